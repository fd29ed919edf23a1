package percpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cells is an array of padded cells laid out as UpdateLocal and AddLocal
// expect: the count at offset 0, the busy flag at offset 8.
type testCell struct {
	n    atomic.Int64
	busy atomic.Uint32
	_    [CacheLinePad - 12]byte
}

func TestFastPathNamed(t *testing.T) {
	t.Logf("GOARCH=%s FastPath()=%s Exclusive()=%v", runtime.GOARCH, FastPath(), Exclusive())
	require.NotEmpty(t, FastPath())
	assert.Equal(t, Exclusive(), FastPath() != "shared/generic")
}

func TestChoosePath(t *testing.T) {
	ex, name := choosePath("shared")
	assert.False(t, ex, "PERCPU_FASTPATH=shared always forces the shared path")
	assert.Equal(t, "shared/generic", name)

	ex, name = choosePath("exclusive")
	if asmPath {
		assert.Equal(t, barrierReady() && pid() >= 0, ex, "the assembly path needs membarrier and the runtime layout")
	} else {
		assert.True(t, ex, "the generic twin needs no barrier")
		assert.Equal(t, "exclusive/generic", name)
	}
	ex, _ = choosePath("")
	assert.Equal(t, asmPath && barrierReady() && pid() >= 0, ex, "by default: assembly with membarrier, else shared")
}

func TestUpdateExclusiveRules(t *testing.T) {
	var c testCell
	var state atomic.Uint32
	state.Store(7)

	assert.True(t, updateExclusive(&c.n, &state, 7, 5))
	assert.Equal(t, int64(5), c.n.Load())
	assert.True(t, updateExclusive(&c.n, &state, 7, -8))
	assert.Equal(t, int64(-3), c.n.Load())
	assert.Zero(t, c.busy.Load(), "busy is cleared after a store")

	assert.False(t, updateExclusive(&c.n, &state, 6, 1), "a state other than want refuses")
	assert.Equal(t, int64(-3), c.n.Load())
	assert.Zero(t, c.busy.Load(), "busy is cleared after a refusal")

	c.n.Store(CellLimit - 1)
	assert.True(t, updateExclusive(&c.n, &state, 7, 1), "CellLimit itself is allowed")
	assert.False(t, updateExclusive(&c.n, &state, 7, 1), "past +CellLimit refuses")
	assert.Equal(t, int64(CellLimit), c.n.Load())
	c.n.Store(-CellLimit)
	assert.False(t, updateExclusive(&c.n, &state, 7, -1), "past -CellLimit refuses")
	assert.True(t, updateExclusive(&c.n, &state, 7, 1))
	assert.Equal(t, int64(-CellLimit+1), c.n.Load())
	assert.Zero(t, c.busy.Load())
}

func TestUpdateLocalRefusesNilCells(t *testing.T) {
	assert.False(t, UpdateLocal(nil, 1))
}

func TestBusyIsAtOffset8(t *testing.T) {
	var c testCell
	assert.Same(t, &c.busy, Busy(&c.n))
}

// TestUpdateLocalHandshake runs the switch handshake of the exclusive
// protocol against goroutines updating their own cells: after the state
// changes, Quiesce and a wait for busy flags, the harvested sum plus the
// updates that were refused must equal every update attempted.
func TestUpdateLocalHandshake(t *testing.T) {
	const want = 1
	n := runtime.GOMAXPROCS(0)
	mask := 1
	for mask+1 < n {
		mask = mask<<1 | 1
	}
	cells := make([]testCell, mask+1)
	for round := 0; round < 50; round++ {
		for i := range cells {
			cells[i].n.Store(0)
		}
		var state atomic.Uint32
		state.Store(want)
		var refused, attempted atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := 0; i < 2000; i++ {
					attempted.Add(1)
					if !UpdateLocal(&Cells{Base: &cells[0].n, Mask: mask, State: &state, Want: want}, 1) {
						refused.Add(1)
					}
					if i%97 == 0 {
						runtime.Gosched()
					}
				}
			}()
		}
		close(start)
		runtime.Gosched()
		state.Store(want + 1)
		Quiesce()
		var sum int64
		for i := range cells {
			for cells[i].busy.Load() != 0 {
				runtime.Gosched()
			}
			sum += cells[i].n.Load()
		}
		wg.Wait()
		var after int64
		for i := range cells {
			after += cells[i].n.Load()
		}
		require.Equal(t, sum, after, "round %d: no cell changed after the handshake", round)
		require.Equal(t, attempted.Load(), sum+refused.Load(), "round %d: every update stored or refused", round)
	}
}

func TestAddLocalReturnsOld(t *testing.T) {
	cells := make([]testCell, 4)
	old := AddLocal(&Cells{Base: &cells[0].n, Mask: 3}, 5)
	assert.Equal(t, int64(0), old)
	var total int64
	for i := range cells {
		total += cells[i].n.Load()
	}
	assert.Equal(t, int64(5), total)
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
func TestPidIsTheP(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	var wg sync.WaitGroup
	var bad atomic.Int64
	seen := make([]atomic.Bool, 8)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			for i := 0; i < 2000 || time.Since(start) < 30*time.Millisecond; i++ {
				p := procPin()
				q := pid()
				procUnpin()
				if p != q {
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
	assert.Zero(t, bad.Load(), "pid disagreed with procPin")
	n := 0
	for i := range seen {
		if seen[i].Load() {
			n++
		}
	}
	assert.Greater(t, n, 1, "the check ran on more than one P")
}
