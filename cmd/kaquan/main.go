// Command kaquan runs the kaquan engine: a demo of the payment flow, the audit, and the benchmark.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() { os.Exit(runProcess(os.Args[1:])) }

// runProcess runs the command line as this process: on stdout and stderr, stopped gracefully by
// SIGINT or SIGTERM. It returns the exit code.
func runProcess(args []string) int {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	go func() { <-ctx.Done(); cancel() }() // the first signal stops gracefully; a second ends the process
	return Main{Stdout: os.Stdout, Stderr: os.Stderr}.Run(ctx, args)
}

// Main is the command line, testable without a process.
type Main struct {
	Stdout, Stderr io.Writer
}

// Exit codes.
const (
	ExitOK          = 0
	ExitFailure     = 1 // the command ran and found a problem (an audit that failed) or could not run
	ExitUsage       = 2
	ExitAuditFailed = 3
)

var errUsage = errors.New("usage")

// Run runs one subcommand and returns the process exit code.
func (m Main) Run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		m.usage()
		return ExitUsage
	}
	var err error
	switch args[0] {
	case "demo":
		err = m.demo(ctx, args[1:])
	case "audit":
		err = m.audit(ctx, args[1:])
	case "bench":
		err = m.bench(ctx, args[1:])
	case "serve":
		err = m.serve(ctx, args[1:])
	case "cluster":
		err = m.cluster(ctx, args[1:])
	case "backup":
		err = m.backup(ctx, args[1:])
	case "restore":
		err = m.restore(ctx, args[1:])
	case "help", "-h", "--help":
		m.usage()
		return ExitOK
	default:
		if _, ok := clientCommands[args[0]]; ok {
			err = m.client(ctx, args[0], args[1:])
			break
		}
		fmt.Fprintf(m.Stderr, "kaquan: unknown command %q\n", args[0])
		m.usage()
		return ExitUsage
	}
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		return ExitUsage
	case errors.Is(err, errAuditFailed):
		fmt.Fprintln(m.Stderr, "kaquan:", err)
		return ExitAuditFailed
	}
	fmt.Fprintln(m.Stderr, "kaquan:", err)
	return ExitFailure
}

func (m Main) usage() {
	fmt.Fprint(m.Stderr, `kaquan: cards, coupons and card-validated payments.

Usage:
  kaquan demo  [--data DIR]                 run the whole payment flow on an embedded engine
  kaquan audit --data DIR [--expect-acks F] check conservation, ledgers, cards, payments
  kaquan bench --data DIR [flags]           load-test payments, gifts or pools
  kaquan serve [--data DIR] [--listen ADDR] the network service (gRPC, gRPC-Web, JSON) on one port
               [--node I --cluster HOST:PORT,... [--slots 64]]
                                            as node I of a cluster (node-to-node addresses in order)
  kaquan cluster up --nodes N [--data DIR] [--listen ADDR]
                                            N cluster nodes on this machine, in the foreground
  kaquan backup --out FILE [--data DIR | --server URL --token T]
                                            a consistent snapshot of a data folder or a running server
  kaquan restore --data DIR --from FILE     a data folder from a backup, then its audit

Client commands, against a server (--server URL, --token T or KAQUAN_SERVER, KAQUAN_TOKEN):
  create-user, create-merchant, create-token, deposit, create-template, claim, wallet,
  payment-code, pay, gift, share, claim-shared

Every flag can also be set by the environment: --data is KAQUAN_DATA, --duration KAQUAN_DURATION...
Run "kaquan COMMAND -h" for a command's flags.
`)
}

// newFlags makes a subcommand's flag set.
func (m Main) newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("kaquan "+name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	return fs
}

// parse parses args, letting KAQUAN_<FLAG> environment variables stand in for flags not given.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %v\n", fs.Args())
		return errUsage
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := "KAQUAN_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok && !given[f.Name] && err == nil {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", env, v, e)
			}
		}
	})
	return err
}

func (m Main) logger(verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: level}))
}

func timeFromUnixNano(ns int64) time.Time { return time.Unix(0, ns) }
