// Command e2e-nfqdelay holds every packet of one NFQUEUE for a fixed time and
// then accepts it: a delay on exactly the packets an iptables rule selects,
// for kernels without netem. The end-to-end harness runs it in its node
// namespace; it is not meant for anything else.
//
//	e2e-nfqdelay --queue 7 --delay 50ms
//
// It prints "ready" once the queue is bound (add the rule after that), and on
// SIGTERM or SIGINT the number of packets it delayed. Packets still held when
// it stops are dropped by the kernel, so remove the rule first.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sensorprobe/sensorprobe/test/e2e/nfqueue"
)

func main() {
	num := flag.Uint("queue", 0, "NFQUEUE number to bind (0 to 65535)")
	delay := flag.Duration("delay", 50*time.Millisecond, "how long to hold each packet")
	flag.Parse()
	if *num > math.MaxUint16 {
		fmt.Fprintf(os.Stderr, "e2e-nfqdelay: --queue %d: out of range (0 to 65535)\n", *num)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	n, err := run(ctx, uint16(*num), *delay)
	fmt.Printf("delayed %d packets by %v\n", n, *delay)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e-nfqdelay:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, num uint16, delay time.Duration) (int64, error) {
	q, err := nfqueue.Open(num)
	if err != nil {
		return 0, err
	}
	fmt.Println("ready")
	var (
		count   atomic.Int64
		pending sync.WaitGroup
		errMu   sync.Mutex
		sendErr error
	)
	go func() {
		<-ctx.Done()
		if err := q.SetReadDeadline(time.Now()); err != nil {
			fmt.Fprintln(os.Stderr, "e2e-nfqdelay: cannot interrupt the receive loop:", err)
		}
	}()
	var recvErr error
	for ctx.Err() == nil {
		ids, err := q.Receive()
		if err != nil {
			if ctx.Err() == nil {
				recvErr = err
			}
			break
		}
		for _, id := range ids {
			count.Add(1)
			pending.Add(1)
			time.AfterFunc(delay, func() {
				defer pending.Done()
				if err := q.Verdict(id, nfqueue.Accept); err != nil {
					errMu.Lock()
					sendErr = errors.Join(sendErr, err)
					errMu.Unlock()
				}
			})
		}
	}
	pending.Wait()
	err = errors.Join(recvErr, sendErr)
	if cerr := q.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	return count.Load(), err
}
