// Command reftorture tortures percpuref.Ref, in the spirit of Linux's
// rcutorture: many goroutines take, hand over and drop references to many
// Refs at random while a controller kills (alone, with KillAsync and in KillAll
// batches), resurrects, reinits and switches them and changes GOMAXPROCS,
// and every step is checked against bookkeeping kept outside the Refs.
//
// Usage:
//
//	go run ./cmd/reftorture [-duration 30s] [-refs 64] [-goroutines 16] [-seed N] [-maxprocs 16]
//
// It checks, as it runs: release never runs while a reference is held,
// never twice in one life, and every release is accounted for by one Put
// that returned true or by the Kill it ran inside; a TryGetLive that
// starts after Kill returned (and before Resurrect or Reinit) never
// succeeds; no TryGet succeeds on a released Ref; no misuse is reported
// on the tortured Refs (the torture makes none). Beside them, a misuser
// misuses Refs of its own after their release (Puts, Gets, PutManys and
// PutLockeds from several goroutines at once) and checks that every misused
// call is reported, that release ran once and no TryGet succeeds (misuse.go).
// After it stops the goroutines it checks that
// every count is exact. It prints the operations made, per second, and the
// number of violations, and exits with status 1 if there was any violation,
// 2 if the flags are wrong, 0 otherwise.
//
// -seed makes the random choices of the controller and of every worker
// replayable; the schedule (which goroutine runs when, on which P) is not,
// so two runs with one seed make the same choices in a different
// interleaving.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit, for tests: it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "reftorture: %v\nRun 'reftorture -h' for usage.\n", err)
		return 2
	}
	res := torture(cfg, stdout, stderr)
	res.print(stdout)
	if res.violations > 0 {
		return 1
	}
	return 0
}

// config is what the flags set.
type config struct {
	duration   time.Duration
	refs       int
	goroutines int
	seed       uint64
	maxProcs   int

	// faultEvery, for tests of the checker only: every faultEvery-th worker
	// operation puts one reference more than it took.
	faultEvery int
}

const (
	maxRefs       = 1 << 20
	maxGoroutines = 1 << 14
	maxMaxProcs   = 1024
)

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("reftorture", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&cfg.duration, "duration", 30*time.Second, "how long to torture, such as 10s or 5m (> 0)")
	fs.IntVar(&cfg.refs, "refs", 64, fmt.Sprintf("number of Refs tortured at once (1..%d)", maxRefs))
	fs.IntVar(&cfg.goroutines, "goroutines", 16, fmt.Sprintf("number of worker goroutines (1..%d)", maxGoroutines))
	fs.Uint64Var(&cfg.seed, "seed", 0, "seed for the random choices; 0 picks one from the clock and prints it")
	fs.IntVar(&cfg.maxProcs, "maxprocs", 16, fmt.Sprintf("the controller sets GOMAXPROCS between 1 and this (1..%d); it may exceed the cores", maxMaxProcs))
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: reftorture [flags]

reftorture runs random operations on many percpuref.Refs from many
goroutines (Get, Put, GetMany, PutMany, PutLocked, TryGet, TryGetMany,
TryGetLive, references handed between goroutines) while a controller
kills (alone, with KillAsync and in KillAll batches), resurrects, reinits and switches the
Refs and changes GOMAXPROCS. It checks
that release never runs while a reference is held or twice in one life,
that TryGetLive fails after Kill, that no misuse is reported and that the
final counts are exact. It exits with status 1 on any violation and 2 on
bad flags.

-seed replays the random choices of the controller and of every worker;
the goroutine schedule is not replayable.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("unexpected argument %q (all settings are flags)", fs.Arg(0))
	case cfg.duration <= 0:
		return cfg, fmt.Errorf("-duration %v: must be > 0", cfg.duration)
	case cfg.refs < 1 || cfg.refs > maxRefs:
		return cfg, fmt.Errorf("-refs %d: must be in 1..%d", cfg.refs, maxRefs)
	case cfg.goroutines < 1 || cfg.goroutines > maxGoroutines:
		return cfg, fmt.Errorf("-goroutines %d: must be in 1..%d", cfg.goroutines, maxGoroutines)
	case cfg.maxProcs < 1 || cfg.maxProcs > maxMaxProcs:
		return cfg, fmt.Errorf("-maxprocs %d: must be in 1..%d", cfg.maxProcs, maxMaxProcs)
	}
	if cfg.seed == 0 {
		cfg.seed = uint64(time.Now().UnixNano())
	}
	return cfg, nil
}
