package percpu

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/percpuref/percpu/internal/cells"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testCells returns Cells over n cells 1<<shift bytes apart, in fresh
// memory, with State cells.Live. With shift 7 they are padded; with a smaller
// shift, slots of other Cells (see dense) lie between them.
func testCells(n int, shift uint8) *cells.Cells {
	mem := make([]int64, (n<<shift)/8+1)
	c := &cells.Cells{Base: (*atomic.Int64)(unsafe.Pointer(&mem[0])), Last: uint16(n - 1), Shift: shift}
	c.State.Store(cells.Live)
	return c
}

// dense returns k Cells sharing slabs as package slots lays them out: cell p
// of Cells j is slot j of slab p, each slab 1<<shift bytes.
func dense(n, k int, shift uint8) []*cells.Cells {
	mem := make([]int64, (n<<shift)/8)
	cs := make([]*cells.Cells, k)
	for j := range cs {
		cs[j] = &cells.Cells{Base: (*atomic.Int64)(unsafe.Pointer(&mem[j])), Last: uint16(n - 1), Shift: shift}
		cs[j].State.Store(cells.Live)
	}
	return cs
}

func sum(c *cells.Cells) int64 {
	var s int64
	for i := 0; i < c.Len(); i++ {
		s += cells.Stable(c.Cell(i))
	}
	return s
}

func TestCellsLayout(t *testing.T) {
	assert.Equal(t, 0, new(cells.Cells).Len(), "no Base, no cells")
	const ptr = unsafe.Sizeof(uintptr(0)) // 8 where the assembly runs
	assert.Equal(t, ptr+8, unsafe.Sizeof(cells.Cells{}), "a refcount embeds Cells")
	assert.Equal(t, ptr, unsafe.Offsetof(cells.Cells{}.State), "the assembly reads State at 8")
	assert.Equal(t, ptr+4, unsafe.Offsetof(cells.Cells{}.Last), "the assembly reads Last at 12")
	assert.Equal(t, ptr+6, unsafe.Offsetof(cells.Cells{}.Shift), "the assembly reads Shift at 14")
	c := testCells(4, 7)
	assert.Equal(t, 4, c.Len())
	for i := 0; i < 4; i++ {
		assert.Equal(t, uintptr(i*128), uintptr(unsafe.Pointer(c.Cell(i)))-uintptr(unsafe.Pointer(c.Base)))
	}
}

func TestFastPathNamed(t *testing.T) {
	t.Logf("GOARCH=%s FastPath()=%s FastPathReason()=%q", runtime.GOARCH, FastPath(), FastPathReason())
	require.Contains(t, []string{pathAsm, pathPin, pathGeneric, pathFetchAdd}, FastPath())
	assert.Equal(t, exclusive, FastPath() != pathFetchAdd)
	assert.Equal(t, FastPath() == pathAsm && os.Getenv("PERCPU_FASTPATH") != "" && os.Getenv("PERCPU_FASTPATH") != "exclusive",
		FastPath() == pathAsm && FastPathReason() != "", "the assembly path has a reason only for an ignored PERCPU_FASTPATH")
	if FastPath() != pathAsm {
		assert.NotEmpty(t, FastPathReason(), "a path other than the assembly one says why")
	}
}

// TestFastPathIsTheAssemblyOne fails, rather than logs, when a build that
// has the assembly, on a machine with membarrier, does not run it: nothing
// else would notice a release that fell off the table or a check that
// refused the layout. The CI machines have membarrier.
func TestFastPathIsTheAssemblyOne(t *testing.T) {
	env := os.Getenv("PERCPU_FASTPATH")
	want := pathAsm
	switch {
	case env == "fetchadd" || env == "shared": // shared: the alias
		want = pathFetchAdd
	case buildReason() != "" && env == "exclusive":
		want = pathGeneric
	case buildReason() != "":
		want = pathFetchAdd
	case barrierStatus() != "":
		want = pathFetchAdd
		if runtime.GOOS == "linux" {
			t.Errorf("membarrier is unavailable on this Linux machine: %s", barrierStatus())
		}
	case noLayoutTag:
		want = pathPin
	}
	assert.Equal(t, want, FastPath(), "reason: %s", FastPathReason())
	if want == pathPin {
		assert.Contains(t, FastPathReason(), "runtime layout of "+release(runtime.Version())+" unknown: procPin tier")
	}
}

func TestChoosePath(t *testing.T) {
	type want = pathChoice
	for _, tc := range []struct {
		facts pathFacts
		want  want
	}{
		{pathFacts{}, want{true, pathAsm, "", ""}},
		{pathFacts{env: "exclusive"}, want{true, pathAsm, "", ""}},
		{pathFacts{env: "fetchadd"}, want{false, pathFetchAdd, "PERCPU_FASTPATH=fetchadd", ""}},
		{pathFacts{env: "shared"}, want{false, pathFetchAdd, "PERCPU_FASTPATH=shared", ""}},
		{pathFacts{layout: "runtime layout of go1.99 unknown"}, want{true, pathPin, "runtime layout of go1.99 unknown: procPin tier", ""}},
		{pathFacts{env: "exclusive", layout: "runtime layout of go1.99 unknown"}, want{true, pathPin, "runtime layout of go1.99 unknown: procPin tier", ""}},
		{pathFacts{env: "fetchadd", layout: "runtime layout of go1.99 unknown"}, want{false, pathFetchAdd, "PERCPU_FASTPATH=fetchadd", ""}},
		{pathFacts{env: "shared", layout: "runtime layout of go1.99 unknown"}, want{false, pathFetchAdd, "PERCPU_FASTPATH=shared", ""}},
		{pathFacts{barrier: "membarrier refused: EPERM", layout: "x"}, want{false, pathFetchAdd, "membarrier refused: EPERM", ""}},
		{pathFacts{env: "exclusive", barrier: "membarrier refused: EPERM"}, want{false, pathFetchAdd,
			"PERCPU_FASTPATH=exclusive not honoured: membarrier refused: EPERM", "PERCPU_FASTPATH=exclusive not honoured: membarrier refused: EPERM"}},
		{pathFacts{build: "race build"}, want{false, pathFetchAdd, "race build", ""}},
		{pathFacts{build: "purego build", env: "exclusive"}, want{true, pathGeneric, "purego build, PERCPU_FASTPATH=exclusive", ""}},
		{pathFacts{build: "purego build", env: "fetchadd"}, want{false, pathFetchAdd, "PERCPU_FASTPATH=fetchadd", ""}},
		{pathFacts{build: "purego build", env: "shared"}, want{false, pathFetchAdd, "PERCPU_FASTPATH=shared", ""}},
		{pathFacts{env: "fast"}, want{true, pathAsm, `PERCPU_FASTPATH="fast" ignored (want fetchadd or exclusive)`, `PERCPU_FASTPATH="fast" ignored (want fetchadd or exclusive)`}},
		{pathFacts{env: "FetchAdd", build: "race build"}, want{false, pathFetchAdd,
			`PERCPU_FASTPATH="FetchAdd" ignored (want fetchadd or exclusive); race build`, `PERCPU_FASTPATH="FetchAdd" ignored (want fetchadd or exclusive)`}},
		{pathFacts{env: "Shared", build: "race build"}, want{false, pathFetchAdd,
			`PERCPU_FASTPATH="Shared" ignored (want fetchadd or exclusive); race build`, `PERCPU_FASTPATH="Shared" ignored (want fetchadd or exclusive)`}},
	} {
		c := choosePath(tc.facts)
		assert.Equal(t, tc.want, c, "%+v", tc.facts)
	}
}

// TestUnknownFastPathIsReported runs the test binary again with a
// PERCPU_FASTPATH it does not know, and with an exclusive request where
// none can be made, and checks the line each writes on stderr at start.
func TestUnknownFastPathIsReported(t *testing.T) {
	if os.Getenv("PERCPU_REPORT_CHILD") != "" {
		fmt.Printf("path=%s\nreason=%s\n", FastPath(), FastPathReason())
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestUnknownFastPathIsReported$")
	cmd.Env = append(os.Environ(), "PERCPU_REPORT_CHILD=1", "PERCPU_FASTPATH=turbo")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "stderr: %s", stderr.String())
	const ignored = `PERCPU_FASTPATH="turbo" ignored (want fetchadd or exclusive)`
	assert.Equal(t, 1, strings.Count(stderr.String(), "percpu: "+ignored), "stderr: %s", stderr.String())
	assert.Contains(t, string(out), "reason="+ignored)
}

// TestFastPathSharedIsAnAliasOfFetchadd runs the test binary again with
// PERCPU_FASTPATH=shared, the fetchadd protocol's name in v0.1.0, and
// checks that it selects what PERCPU_FASTPATH=fetchadd selects, quietly,
// with the reason naming the setting as it was given.
func TestFastPathSharedIsAnAliasOfFetchadd(t *testing.T) {
	for _, env := range []string{"fetchadd", "shared"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestUnknownFastPathIsReported$")
		cmd.Env = append(os.Environ(), "PERCPU_REPORT_CHILD=1", "PERCPU_FASTPATH="+env)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "stderr: %s", stderr.String())
		assert.NotContains(t, stderr.String(), "percpu: ", "PERCPU_FASTPATH=%s is not reported", env)
		assert.Contains(t, string(out), "path=fetchadd/generic\n", "PERCPU_FASTPATH=%s", env)
		assert.Contains(t, string(out), "reason=PERCPU_FASTPATH="+env+"\n")
	}
}

func TestUpdateExclusiveRules(t *testing.T) {
	var c atomic.Int64
	var state atomic.Uint32
	state.Store(cells.Live)

	assert.True(t, updateExclusive(&c, &state, 5))
	assert.Equal(t, int64(5), c.Load())
	assert.True(t, updateExclusive(&c, &state, -8))
	assert.Equal(t, int64(-3), c.Load(), "a store leaves no busy mark")

	state.Store(cells.Live + 1)
	assert.False(t, updateExclusive(&c, &state, 1), "a state other than cells.Live refuses")
	assert.Equal(t, int64(-3), c.Load(), "a refusal restores the count, without the busy mark")
	state.Store(cells.Live)

	c.Store(cells.Limit - 1)
	assert.True(t, updateExclusive(&c, &state, 1), "cells.Limit itself is allowed")
	assert.False(t, updateExclusive(&c, &state, 1), "past +cells.Limit refuses")
	assert.Equal(t, int64(cells.Limit), c.Load())
	c.Store(-cells.Limit)
	assert.False(t, updateExclusive(&c, &state, -1), "past -cells.Limit refuses")
	assert.True(t, updateExclusive(&c, &state, 1))
	assert.Equal(t, int64(-cells.Limit+1), c.Load())
}

func TestUpdateLocalRefusesNoCells(t *testing.T) {
	assert.False(t, updateLocal(nil, 1))
	c := new(cells.Cells)
	c.State.Store(cells.Live)
	assert.False(t, updateLocal(c, 1), "a nil Base refuses")
}

// TestStableWaitsOutTheBusyMark: a cell holding a busy mark is read only
// once the update that set it has finished.
func TestStableWaitsOutTheBusyMark(t *testing.T) {
	var c atomic.Int64
	c.Store(41 + cells.BusyMark)
	done := make(chan int64)
	go func() { done <- cells.Stable(&c) }()
	time.Sleep(5 * time.Millisecond)
	select {
	case v := <-done:
		t.Fatalf("Stable returned %d while the cell was busy", v)
	default:
	}
	c.Store(42)
	assert.Equal(t, int64(42), <-done)
	c.Store(-cells.Limit)
	assert.Equal(t, int64(-cells.Limit), cells.Stable(&c))
}

// TestUpdateLocalHandshake runs the switch handshake of the exclusive
// protocol against goroutines updating their own cells: after the state
// changes, Quiesce and Stable reads, the harvested sum plus the updates that
// were refused must equal every update attempted. The dense variant puts
// the cells of three counters side by side in the same slabs, and keeps
// the other two counting while the first switches.
func TestUpdateLocalHandshake(t *testing.T) {
	n := runtime.GOMAXPROCS(0)
	for _, layout := range []struct {
		name  string
		shift uint8
		k     int
	}{{"padded", 7, 1}, {"dense", 6, 3}} {
		t.Run(layout.name, func(t *testing.T) {
			for round := 0; round < 50; round++ {
				cs := dense(n, layout.k, layout.shift)
				var refused, attempted atomic.Int64
				var others atomic.Int64 // counted on cs[1:], which never switch
				var wg sync.WaitGroup
				start := make(chan struct{})
				for g := 0; g < 4; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						for i := 0; i < 2000; i++ {
							attempted.Add(1)
							if !updateLocal(cs[0], 1) {
								refused.Add(1)
							}
							for _, o := range cs[1:] {
								if updateLocal(o, 1) {
									others.Add(1)
								}
							}
							if i%97 == 0 {
								runtime.Gosched()
							}
						}
					}()
				}
				close(start)
				runtime.Gosched()
				cs[0].State.Store(cells.Live + 1)
				quiesce()
				got := sum(cs[0])
				wg.Wait()
				require.Equal(t, got, sum(cs[0]), "round %d: no cell changed after the handshake", round)
				require.Equal(t, attempted.Load(), got+refused.Load(), "round %d: every update stored or refused", round)
				var o int64
				for _, c := range cs[1:] {
					o += sum(c)
				}
				require.Equal(t, others.Load(), o, "round %d: the neighbours' counts are exact", round)
			}
		})
	}
}

// TestRefusedUpdateOnAnotherOwnersCell: an update made through stale Cells
// (a counter that stopped, whose slot now serves another) leaves the slot's
// count as it found it.
func TestRefusedUpdateOnAnotherOwnersCell(t *testing.T) {
	cs := dense(runtime.GOMAXPROCS(0), 1, 6)
	stale := &cells.Cells{Base: cs[0].Base, Last: cs[0].Last, Shift: cs[0].Shift} // same cells, a state that is not cells.Live
	stale.State.Store(cells.Live + 1)
	for i := 0; i < 1000; i++ {
		require.True(t, updateLocal(cs[0], 1) || !exclusive)
		require.False(t, updateLocal(stale, 1))
	}
	if exclusive {
		assert.Equal(t, int64(1000), sum(cs[0]))
	}
}

func TestAddLocal(t *testing.T) {
	c := testCells(4, 7)
	old, ok := addLocal(c, 5)
	assert.True(t, ok)
	assert.Equal(t, int64(0), old)
	assert.Equal(t, int64(5), sum(c))
	c.State.Store(cells.Live + 1)
	_, ok = addLocal(c, 5)
	assert.False(t, ok, "AddLocal refuses unless State is cells.Live")
	assert.Equal(t, int64(5), sum(c))
	// Ps beyond Last wrap onto the cells.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	one := testCells(1, 7)
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				_, ok := addLocal(one, 1)
				assert.True(t, ok)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(1600), one.Cell(0).Load())
}

func TestHintIsAValidP(t *testing.T) {
	max := runtime.GOMAXPROCS(0)
	for i := 0; i < 100; i++ {
		p := Hint()
		require.GreaterOrEqual(t, p, 0)
		require.Less(t, p, max)
	}
}

// TestPidIsTheP checks the P id that the fast path reads against procPin's,
// on many Ps: GOMAXPROCS is raised so that goroutines spread over them.
// Where the runtime layout is unknown, pid must refuse (-1) every time
// rather than read a guessed offset.
func TestPidIsTheP(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	unknown := pidRefuses()
	var bad atomic.Int64
	seen := make([]atomic.Bool, 8)
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			for i := 0; i < 2000 || time.Since(start) < 30*time.Millisecond; i++ {
				p := procPin()
				q := pid()
				procUnpin()
				if unknown && q != -1 || !unknown && p != q {
					bad.Add(1)
				}
				seen[p].Store(true)
				if i%16 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	wg.Wait()
	assert.Zero(t, bad.Load(), "pid disagreed with procPin (layout unknown: %v, so want -1)", unknown)
	n := 0
	for i := range seen {
		if seen[i].Load() {
			n++
		}
	}
	assert.Greater(t, n, 1, "the check ran on more than one P")
}
