package vsockwatch

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// FuzzPing has a peer answer a ping with arbitrary bytes, then close. Ping
// never panics, returns once the peer is done, accepts only a line that
// starts with the beacon's prefix, and keeps at most maxGreeting bytes of it.
func FuzzPing(f *testing.F) {
	for _, s := range []string{
		GreetingPrefix + " node=worker-1 peer=vm(3):1034\n",
		GreetingPrefix + "\r\n",
		"SSH-2.0-OpenSSH_9.6\r\n",
		GreetingPrefix + " no newline",
		"",
		"\n",
		strings.Repeat("x", maxGreeting+10) + "\n",
		GreetingPrefix + strings.Repeat("y", maxGreeting) + "\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, answer []byte) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		client, server := net.Pipe()
		go func() {
			server.Write(answer)
			server.Close()
		}()
		res, err := Ping(ctx, func(context.Context) (net.Conn, error) { return client, nil })
		if ctx.Err() != nil {
			t.Fatalf("Ping did not return when the peer closed: %v", ctx.Err())
		}
		if err != nil {
			return
		}
		if !strings.HasPrefix(res.Greeting, GreetingPrefix) {
			t.Fatalf("accepted greeting %q without the prefix %q", res.Greeting, GreetingPrefix)
		}
		if len(res.Greeting) > maxGreeting || strings.ContainsAny(res.Greeting, "\n") {
			t.Fatalf("greeting %q: %d bytes or a newline (at most %d, one line)", res.Greeting, len(res.Greeting), maxGreeting)
		}
		if !strings.HasPrefix(string(answer), res.Greeting) {
			t.Fatalf("greeting %q is not the start of what the peer sent %q", res.Greeting, answer)
		}
	})
}
