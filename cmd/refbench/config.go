package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Workload names, in the order they run and are reported.
const (
	wGetPut       = "getput"
	wTryGetLive   = "trygetlive"
	wInitAtomic   = "initatomic"
	wKilledGetPut = "killedgetput"
	wKilled       = "killed"
	wChurn        = "churn"
	wSnapshot     = "snapshot"
	wKillLatency  = "killlatency"
	wKillLoad     = "killload"
	wLifecycle    = "lifecycle"
	wMemory       = "memory"
)

// Implementation names, in the order they are reported.
const (
	iPercpuref        = "percpuref"
	iPercpurefPadded  = "percpuref-padded"
	iPercpurefEager   = "percpuref-eager"
	iPercpurefKillAll = "percpuref-killall"
	iPercpurefAsync   = "percpuref-async"
	iAtomic           = "atomic"
	iCAS              = "cas"
	iXsync            = "xsync"
	iRWMutex          = "rwmutex"
)

var (
	allWorkloads = []string{wGetPut, wTryGetLive, wInitAtomic, wKilledGetPut, wKilled, wChurn, wSnapshot, wKillLatency, wKillLoad, wLifecycle, wMemory}
	allImpls     = []string{iPercpuref, iPercpurefEager, iPercpurefKillAll, iPercpurefAsync, iPercpurefPadded, iAtomic, iCAS, iXsync, iRWMutex}
)

// config is what the flags ask for.
type config struct {
	duration   time.Duration // per measurement
	goroutines []int
	impls      []string // in allImpls order
	workloads  []string // in allWorkloads order
	count      int
	shards     []int  // for killlatency and killload; slotsShards is the default layout
	format     string // table, json, csv or bench
	plot       string // chart file, "" for none
	// implAll and workloadAll are set where -impl or -workload is all:
	// an implementation that runs in none of the chosen workloads, or a
	// workload that none of the chosen implementations runs in, is then
	// left out, and is an error otherwise.
	implAll, workloadAll bool
	// from is the report of an earlier run (-from), written again instead
	// of measuring; nil to measure.
	from *Report
}

// Output formats (-format).
const (
	fTable = "table"
	fJSON  = "json"
	fCSV   = "csv"
	fBench = "bench"
)

var allFormats = []string{fTable, fJSON, fCSV, fBench}

func (c *config) has(impl string) bool { return slices.Contains(c.impls, impl) }

// errReported is returned when the flag package has already printed the
// error and the usage.
var errReported = errors.New("flag error already reported")

const usageHead = `Usage: refbench [flags]

refbench measures percpuref.Ref against other reference counts, side by
side in one run, over a sweep of goroutine counts, and prints a table (or
JSON, or CSV) whose first lines say where and how it ran.

Workloads (-workload):
  getput       Get+Put pair on a live Ref (per-CPU mode: a default
               Ref counts on its central count until two goroutines
               collide, and then spreads, so from 2 goroutines on it is
               per-CPU mode; a percpuref-eager Ref has its cells from the
               start)
  trygetlive   TryGetLive+Put on a live Ref (per-CPU mode)
  initatomic   Get+Put on a live Ref made with percpuref.InitAtomic()
               (atomic mode throughout, never killed)
  killedgetput Get+Put on a Ref after Kill (atomic mode)
  killed       GetUnlessZero+Put on a Ref after Kill (atomic mode)
  churn        the lifecycle with one Get+Put in it, on every goroutine
               count, each goroutine running lives of its own: make a
               count, take and drop a reference, drop the owner's, release
               (percpuref: New, Get, Put and Kill; atomic: a kref; one
               operation is one life, garbage collection included;
               percpuref's BenchmarkKillConcurrent)
  snapshot     readers take and drop a reference to the current object
               while a writer replaces it every 2ms and waits for the old
               one's release (percpuref: percpuref.Shared, Acquire and
               Release against Swap)
  killlatency  Kill of a live Ref with no other reference, by shard count
               (one goroutine; -shards, where slots is the default
               layout, slots in the shared per-P slabs)
  killload     the same Kill, each timed on its own (mean, p50, p99),
               while GOMAXPROCS-1 goroutines (at least one) run Get+Put on
               Refs of their own and TryGetLive+Put on the Refs about to
               be killed; atomic is a kref under the same load, whose
               Kill is the owner's Put
  lifecycle    the whole life of a count nobody else takes: make it, drop
               the only reference, release (percpuref: New and Kill; one
               goroutine, garbage collection included)
  memory       heap bytes per live object, for 1 and 100000 objects at
               GOMAXPROCS 2 and 64, each measured in a fresh child process
               (this program again), since the slot arena of percpuref
               never frees memory and reuses its free slots

Implementations (-impl):
  percpuref    this module's percpuref.Ref as New makes it (Lazy, the
               default: one central word until its first contention, then
               per-CPU counts in 8-byte slots of shared per-P slabs), on
               the fast path named in the header; PERCPU_FASTPATH=fetchadd
               in the environment selects the fetchadd (atomic add) path
               at run time, and a build with -tags purego the generic
               (Go-only) build
  percpuref-eager
               percpuref.Ref made with percpuref.Eager(): its slot from New
               on; getput, lifecycle and memory only
  percpuref-killall
               percpuref-eager's Refs killed 64 at a time by
               percpuref.KillAll, which shares one membarrier among them;
               lifecycle only
  percpuref-async
               percpuref-eager's Refs killed one by one with
               percpuref.(*Ref).KillAsync, whose folder goroutine finishes
               the kills under one membarrier a batch; a loop's lives end
               when the last of them is released; lifecycle only
  percpuref-padded
               percpuref.Ref with padded shards of its own
               (percpuref.WithShards(0)); getput, lifecycle and memory only
  atomic       atomic.Int64 Add(1)/Add(-1) on one padded shared word; in
               snapshot, atomic.Pointer plus an atomic.Int64 refcount (its
               get is the increment-unless-zero below, the only safe one);
               in churn, killload, lifecycle and memory, a kref: a struct
               of an atomic.Int64 and a release func, made with a count of
               1
  cas          atomic.Int64 with a compare-and-swap increment-unless-zero
               get (the kref pattern) and an Add(-1) put
  xsync        github.com/puzpuzpuz/xsync/v4 Counter Inc/Dec
  rwmutex      sync.RWMutex read lock around the read (snapshot only)

ns/op is per goroutine (wall time x goroutines / operations); Mops/s is the
aggregate throughput; "x atomic" is the throughput ratio to atomic in the
same repetition (lifecycle and killload: atomic's time over the
implementation's), the median over repetitions.

Statistics are benchstat's, from golang.org/x/perf/benchmath: every median
comes with its 95% confidence interval (± in the table, which needs 6
repetitions or more), and every ratio with the interval of the
repetitions' ratios and the p-value of the Mann-Whitney U test of the
implementation's repetitions against atomic's, the test benchstat uses; a
ratio whose p-value is 0.05 or more is printed "~": no significant
difference. The default -count of 20 finds a 10% difference 4 times in 5
where the run-to-run spread (coefficient of variation) of a measurement is
10% or less: on a quiet 2-vCPU AMD EPYC guest the median spread of the
throughputs was 5% to 11% from run to run, lowest for atomic, cas and
one goroutine, highest for the per-CPU rows from 2 goroutines on, which
move with the host's load on the other vCPU's core. The header's spread line says what the run at
hand resolves; a busy host (the header says BUSY) spreads far more.
A run takes about 6 minutes; -count 10 halves it and resolves about 15%.
The memory workload's child processes for 100000 objects run
runtime.NumCPU() at a time.

Output (-format): table (the default), json (provenance, summaries and
every repetition; schema_version says its layout), csv (one row per result
and metric, empty where a cell does not apply, after the provenance as
lines starting with #), or bench: Go's benchmark format, one line per
repetition, which benchstat (golang.org/x/perf/cmd/benchstat) reads:

  refbench -format bench > old.txt; ...; refbench -format bench > new.txt
  benchstat old.txt new.txt          two runs of one build
  benchstat -col go old.txt new.txt  two Go releases (-col commit: commits)
  benchstat -col /impl new.txt       implementations, atomic first

Flags:
`

// parseFlags parses args. On -h it prints the usage and returns
// flag.ErrHelp; on a bad value it returns an error to be printed.
func parseFlags(args []string, stderr io.Writer) (*config, error) {
	procs := runtime.GOMAXPROCS(0)
	fs := flag.NewFlagSet("refbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHead)
		fs.PrintDefaults()
	}
	duration := fs.Duration("duration", 80*time.Millisecond, "length of one measurement (one implementation, one goroutine count, one repetition)")
	goroutines := fs.String("goroutines", joinInts(defaultGoroutines(procs)), "comma-separated goroutine `counts` to sweep; unless given, the powers of two below 2xGOMAXPROCS, GOMAXPROCS and 2xGOMAXPROCS")
	impls := fs.String("impl", "all", "comma-separated implementations to run, or all: "+strings.Join(allImpls, ", "))
	workloads := fs.String("workload", "all", "comma-separated workloads to run, or all: "+strings.Join(allWorkloads, ", "))
	count := fs.Int("count", 20, "repetitions of every measurement; the medians, intervals and tests are over these")
	shards := fs.String("shards", "1,2,8,64,slots", "comma-separated shard counts (percpuref.WithShards) for killlatency and killload; slots is the layout New gives")
	format := fs.String("format", fTable, "what to write to stdout: "+strings.Join(allFormats, ", ")+" (Go's benchmark format, for benchstat)")
	jsonOut := fs.Bool("json", false, "shorthand for -format json")
	csvOut := fs.Bool("csv", false, "shorthand for -format csv")
	plotFile := fs.String("plot", "", "write a chart of throughput against goroutines to `FILE` (.svg or .png)")
	from := fs.String("from", "", "measure nothing: write the report of an earlier run, which -format json saved in `FILE`, in the chosen format and chart")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, errReported
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c := &config{duration: *duration, count: *count, format: *format, plot: *plotFile}
	var err error
	if c.duration <= 0 {
		return nil, fmt.Errorf("invalid -duration %v: must be positive", c.duration)
	}
	if c.count < 1 {
		return nil, fmt.Errorf("invalid -count %d: must be at least 1", c.count)
	}
	if c.goroutines, err = parseInts("goroutines", *goroutines, 1<<16); err != nil {
		return nil, err
	}
	if c.shards, err = parseShards(*shards); err != nil {
		return nil, err
	}
	if c.impls, err = parseNames("impl", *impls, allImpls); err != nil {
		return nil, err
	}
	if c.workloads, err = parseNames("workload", *workloads, allWorkloads); err != nil {
		return nil, err
	}
	if !slices.Contains(allFormats, c.format) {
		return nil, fmt.Errorf("invalid -format %q: want one of %s", c.format, strings.Join(allFormats, ", "))
	}
	formatSet := false
	fs.Visit(func(f *flag.Flag) { formatSet = formatSet || f.Name == "format" })
	for _, short := range []struct {
		set    bool
		format string
	}{{*jsonOut, fJSON}, {*csvOut, fCSV}} {
		if !short.set {
			continue
		}
		if formatSet && c.format != short.format {
			return nil, fmt.Errorf("-%s and -format %s ask for two formats: choose one for stdout", short.format, c.format)
		}
		c.format, formatSet = short.format, true
	}
	c.implAll, c.workloadAll = strings.TrimSpace(*impls) == "all", strings.TrimSpace(*workloads) == "all"
	if *from != "" {
		if c.from, err = readReport(*from); err != nil {
			return nil, err
		}
	} else if err := checkSelection(c); err != nil {
		return nil, err
	}
	if err := checkPlot(c); err != nil {
		return nil, err
	}
	return c, nil
}

// defaultGoroutines returns 1, 2, 4, ... below 2*procs, plus procs and
// 2*procs themselves.
func defaultGoroutines(procs int) []int {
	var gs []int
	for g := 1; g < 2*procs; g *= 2 {
		gs = append(gs, g)
	}
	gs = append(gs, procs, 2*procs)
	slices.Sort(gs)
	return slices.Compact(gs)
}

// parseInts parses a comma-separated list of integers in [1, max], sorted
// and without duplicates.
func parseInts(name, s string, max int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > max {
			return nil, fmt.Errorf("invalid -%s %q: %q is not a whole number from 1 to %d", name, s, f, max)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// slotsShards stands, in a list of shard counts, for the default layout:
// slots in the shared per-P slabs, not WithShards.
const slotsShards = 0

// parseShards parses -shards: whole numbers from 1 to 1024, sorted and
// without duplicates, and "slots" (slotsShards), which goes last.
func parseShards(s string) ([]int, error) {
	var nums []string
	slots := false
	for _, f := range strings.Split(s, ",") {
		if strings.TrimSpace(f) == "slots" {
			slots = true
		} else {
			nums = append(nums, f)
		}
	}
	var out []int
	if len(nums) > 0 || !slots {
		var err error
		if out, err = parseInts("shards", strings.Join(nums, ","), 1024); err != nil {
			return nil, fmt.Errorf("invalid -shards %q: each must be a whole number from 1 to 1024, or slots", s)
		}
	}
	if slots {
		out = append(out, slotsShards)
	}
	return out, nil
}

// shardsName is how a shard count is shown: the number, or slots.
func shardsName(n int) string {
	if n == slotsShards {
		return "slots"
	}
	return strconv.Itoa(n)
}

// parseNames parses a comma-separated list of names from known, or "all",
// and returns them in known's order.
func parseNames(name, s string, known []string) ([]string, error) {
	if strings.TrimSpace(s) == "all" {
		return known, nil
	}
	want := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(known, f) {
			return nil, fmt.Errorf("invalid -%s %q: unknown %s %q (known: %s, or all)", name, s, name, f, strings.Join(known, ", "))
		}
		want[f] = true
	}
	var out []string
	for _, k := range known {
		if want[k] {
			out = append(out, k)
		}
	}
	return out, nil
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}
