// Command probe is sensorprobe: it dials RHACS sensor from a node's host
// network over every path that matters, names the cause of what fails, and
// exports it for Prometheus. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/common/version"

	"github.com/sensorprobe/sensorprobe/internal/app"
	"github.com/sensorprobe/sensorprobe/internal/clustercheck"
	"github.com/sensorprobe/sensorprobe/internal/vsockwatch"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // runtime failure; for check: not healthy
	exitUsage   = 2 // usage or configuration error
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a command and maps its outcome to an exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	commands := map[string]func(context.Context, []string, io.Writer, io.Writer) int{
		"demo":       runDemo,
		"check":      runCheck,
		"fix":        runFix,
		"vsock-ping": runVSOCKPing,
		"simulate":   runSimulate,
		"version":    runVersion,
		"--version":  runVersion,
	}
	if len(args) > 0 {
		if cmd, ok := commands[args[0]]; ok {
			return cmd(ctx, args[1:], stdout, stderr)
		}
	}
	return runDaemon(ctx, args, stdout, stderr)
}

func runDaemon(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := app.ParseDaemon(args, stdout, os.Getenv)
	if code, done := usage(err, stderr); done {
		return code
	}
	if cfg.DryRun {
		fmt.Fprintln(stdout, app.Describe(cfg))
		return exitOK
	}
	logger := app.NewLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err := app.RunDaemon(ctx, cfg, logger); err != nil {
		logger.ErrorContext(ctx, "sensorprobe stopped", "err", err)
		return exitFailure
	}
	return exitOK
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := app.ParseDemo(args, stdout)
	if code, done := usage(err, stderr); done {
		return code
	}
	return failure(app.RunDemo(ctx, cfg, stdout, app.NewLogger(stderr, cfg.LogLevel, "text")), stderr)
}

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if app.IsClusterCheck(args) {
		return clusterCommand(ctx, app.ParseClusterCheck, app.RunClusterCheck, args, stdout, stderr)
	}
	cfg, err := app.ParseCheck(args, stdout, os.Getenv)
	if code, done := usage(err, stderr); done {
		return code
	}
	healthy, err := app.RunCheck(ctx, cfg, stdout)
	return outcome(healthy, err, stderr)
}

func runFix(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return clusterCommand(ctx, app.ParseFix, app.RunFix, args, stdout, stderr)
}

func runVSOCKPing(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := app.ParseVSOCKPing(args, stdout)
	if code, done := usage(err, stderr); done {
		return code
	}
	ok, err := app.RunVSOCKPing(ctx, cfg, stdout, vsockwatch.DialVSOCK)
	return outcome(ok, err, stderr)
}

func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := app.ParseSimulate(args, stdout)
	if code, done := usage(err, stderr); done {
		return code
	}
	rep, err := app.RunSimulate(ctx, cfg, app.NewLogger(stderr, cfg.LogLevel, "text"))
	if err != nil {
		return failure(err, stderr)
	}
	if cfg.Series != "" {
		if err := writeFile(cfg.Series, func(w io.Writer) error { return app.WriteSeries(w, rep) }); err != nil {
			return failure(err, stderr)
		}
	}
	return failure(app.WriteSimulateReport(stdout, rep, cfg), stderr)
}

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) int {
	fmt.Fprintln(stdout, version.Print("sensorprobe"))
	return exitOK
}

// outcome is the exit code of a command that answers yes or no: 0 for yes,
// 1 for no or a runtime failure.
func outcome(ok bool, err error, stderr io.Writer) int {
	switch {
	case err != nil:
		return failure(err, stderr)
	case !ok:
		return exitFailure
	}
	return exitOK
}

// clusterCommand runs a command over the whole cluster (`probe check
// --cluster`, `probe fix`): parse its flags, connect with the kubeconfig,
// run, and exit 0 when every check passes, 1 when one fails or the run
// fails, 2 for usage or an unusable kubeconfig.
func clusterCommand(ctx context.Context,
	parse func([]string, io.Writer) (*app.ClusterConfig, error),
	run func(context.Context, *app.ClusterConfig, clustercheck.Clients, io.Writer, clustercheck.Progress) (int, error),
	args []string, stdout, stderr io.Writer,
) int {
	cfg, err := parse(args, stdout)
	if code, done := usage(err, stderr); done {
		return code
	}
	clients, err := cfg.Clients()
	if err != nil {
		fmt.Fprintln(stderr, "probe:", err)
		return exitUsage
	}
	failed, err := run(ctx, cfg, clients, stdout, app.Progress(stdout))
	if err != nil {
		return failure(err, stderr)
	}
	if failed > 0 {
		return exitFailure
	}
	return exitOK
}

// usage reports a parse error: help exits 0, anything else prints one line
// per problem and exits 2.
func usage(err error, stderr io.Writer) (int, bool) {
	switch {
	case err == nil:
		return 0, false
	case errors.Is(err, app.ErrHelp):
		return exitOK, true
	}
	fmt.Fprintln(stderr, err)
	return exitUsage, true
}

// writeFile creates path and writes it with write.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path) // #nosec G304 G703 -- the operator names the file (--series)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func failure(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, context.Canceled) {
		return exitOK
	}
	fmt.Fprintln(stderr, "probe:", err)
	return exitFailure
}
