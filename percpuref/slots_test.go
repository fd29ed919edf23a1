package percpuref

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/percpuref/percpu"
	"github.com/percpuref/percpu/internal/cells"
	"github.com/percpuref/percpu/internal/fastpath"
	"github.com/percpuref/percpu/internal/slots"
)

// Tests of the Refs' slots in package slots' arena: given back when lost,
// killed or exited, reused with the last owner's leftovers, and counted
// exactly through all of it. They watch slots.Stats, which is global, so
// each starts by letting the garbage collector finish what earlier tests
// left (slotSettle).

const slotDeadline = 10 * time.Second

// slotProcsCeiling is at least the largest GOMAXPROCS a test of this
// package sets.
const slotProcsCeiling = 16

// slotGCUntil runs GC cycles until cond holds, failing the test after
// slotDeadline.
func slotGCUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(slotDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v of GC cycles, %s never happened (arena %+v)", slotDeadline, what, slots.Stats())
		}
		runtime.GC()
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// slotSettle waits until no slot waits for a grace period and the arena's
// figures have stayed put over a few GC cycles, so that the cleanups of
// Refs that earlier tests dropped have run.
//
// It waits with GOMAXPROCS raised to at least slotProcsCeiling: in go1.26 a
// cleanup that the sweeper queued on a P that a GOMAXPROCS decrease then
// removed runs only once that P is back (see "Cleanups held back" in
// shard/arena_test.go), and other tests here move GOMAXPROCS up to 16.
func slotSettle(t *testing.T) slots.ArenaStats {
	t.Helper()
	old := runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), slotProcsCeiling))
	defer runtime.GOMAXPROCS(old)
	var last slots.ArenaStats
	same := 0
	slotGCUntil(t, "the arena settled", func() bool {
		s := slots.Stats()
		if s == last && s.Retired == 0 {
			same++
		} else {
			same = 0
		}
		last = s
		return same >= 3
	})
	return last
}

// slotLayout is where a Ref's cells were, kept to look at them after the
// Ref gave them back.
type slotLayout struct {
	base  *atomic.Int64
	last  uint16
	shift uint8
}

func slotLayoutOf(r *Ref) slotLayout {
	return slotLayout{r.cells.Base, r.cells.Last, r.cells.Shift}
}

// values returns the cells' counts, waiting out busy marks.
func (l slotLayout) values() []int64 {
	v := make([]int64, int(l.last)+1)
	for p := range v {
		v[p] = cells.Stable((*atomic.Int64)(unsafe.Add(unsafe.Pointer(l.base), uintptr(p)<<l.shift)))
	}
	return v
}

// slotSpread takes n references on r from several goroutines, so that they
// land on several Ps' cells.
func slotSpread(r *Ref, n int) { slotSpreadOp(n, r.Get) }

// slotUnspread puts n references on r from several goroutines.
func slotUnspread(r *Ref, n int) { slotSpreadOp(n, func() { r.Put() }) }

// slotSpreadOp runs op n times, shared among four goroutines.
func slotSpreadOp(n int, op func()) {
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < n; i += 4 {
				op()
				if i%8 == 0 {
					runtime.Gosched()
				}
			}
		}(g)
	}
	wg.Wait()
}

func TestSlotRefTakesASlot(t *testing.T) {
	before := slotSettle(t)
	r := New(nil, Eager())
	require.True(t, slots.IsSlot(r.cells.Base), "a default Ref's cells are an arena slot")
	assert.Equal(t, uint16(min(runtime.GOMAXPROCS(0), slots.MaxCells)-1), r.cells.Last)
	s := slots.Stats()
	assert.Equal(t, before.Live+1, s.Live)
	r.Kill()
	runtime.KeepAlive(r)
}

func TestSlotLostRefGivesItBack(t *testing.T) {
	before := slotSettle(t)
	const n = 32
	refs := make([]*Ref, n)
	var released atomic.Int32
	for i := range refs {
		refs[i] = New(func() { released.Add(1) }, Eager())
		require.True(t, slots.IsSlot(refs[i].cells.Base))
		slotSpread(refs[i], 10+i)
		slotUnspread(refs[i], 5)
		require.Equal(t, int64(1+10+i-5), refs[i].Read())
	}
	assert.Equal(t, before.Live+n, slots.Stats().Live)
	refs = nil // lost, in per-CPU mode, holding references
	slotGCUntil(t, "the lost Refs' slots came back", func() bool { return slots.Stats().Live <= before.Live })
	assert.Equal(t, before.Live, slots.Stats().Live, "each slot counted down once")
	assert.Zero(t, released.Load(), "a lost Ref is not released")

	// The slots are free: as many new Refs take no new slot.
	mid := slots.Stats()
	for i := range n {
		refs = append(refs, New(nil, Eager()))
		require.Equal(t, int64(1), refs[i].Read(), "a Ref on a reused slot starts at 1")
	}
	assert.Equal(t, mid.Slots, slots.Stats().Slots, "new Refs reuse the lost Refs' slots")
	for _, r := range refs {
		r.Kill()
	}
}

func TestSlotKilledRefRetiresIt(t *testing.T) {
	before := slotSettle(t)
	// Only our runtime.GC calls end grace periods, so that the slot is
	// seen waiting for one.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var released atomic.Int32
	r := New(func() { released.Add(1) }, Eager())
	l := slotLayoutOf(r)
	require.True(t, slots.IsSlot(l.base))
	r.Get()
	r.Kill()
	assert.Nil(t, r.cells.Base, "Kill without AllowReinit gives the cells back")
	s := slots.Stats()
	assert.Equal(t, before.Live, s.Live, "the slot is no longer live")
	assert.Equal(t, before.Retired+1, s.Retired, "the slot waits for a grace period")
	assert.Zero(t, released.Load())
	assert.Equal(t, int64(1), r.Read())
	assert.True(t, r.Put())
	assert.Equal(t, int32(1), released.Load())

	slotGCUntil(t, "the retired slot became free", func() bool { return slots.Stats().Retired == 0 })
	// The next Ref takes the slot freed last: r's. r is still reachable,
	// and its cleanup, when it runs, must not take the slot from r2.
	r2 := New(nil, Eager())
	require.Same(t, l.base, r2.cells.Base, "the freed slot is handed out next")
	assert.Equal(t, int64(1), r2.Read())
	assert.Equal(t, before.Live+1, slots.Stats().Live)

	slotDropAndWait(t, &r)
	assert.Equal(t, before.Live+1, slots.Stats().Live, "r2 still owns the slot after r's cleanup")
	r3 := New(nil, Eager())
	assert.NotSame(t, l.base, r3.cells.Base, "r's cleanup freed the slot that r2 owns")
	slotSpread(r2, 9)
	slotSpread(r3, 7)
	assert.Equal(t, int64(10), r2.Read())
	assert.Equal(t, int64(8), r3.Read())
	slotUnspread(r2, 9)
	slotUnspread(r3, 7)
	assert.Equal(t, int64(1), r2.Read())
	assert.Equal(t, int64(1), r3.Read())
	r3.Kill()
	r3 = nil
	slotDropAndWait(t, &r2)
	slotGCUntil(t, "r2's and r3's slots came back", func() bool {
		s := slots.Stats()
		return s.Live == before.Live && s.Retired == 0
	})
}

// slotDropAndWait clears *rp, which must be the last reference to the Ref,
// and runs GC cycles until the Ref's cleanups have run: a cleanup of our own
// on it, and then a few more cycles for the arena's, which may run in any
// order with ours.
func slotDropAndWait(t *testing.T, rp **Ref) {
	t.Helper()
	var gone atomic.Bool
	runtime.AddCleanup(*rp, func(b *atomic.Bool) { b.Store(true) }, &gone)
	*rp = nil
	slotGCUntil(t, "the Ref was collected", gone.Load)
	for i := 0; i < 3; i++ {
		runtime.GC()
		runtime.Gosched()
	}
}

func TestSlotExitedRefRetiresIt(t *testing.T) {
	before := slotSettle(t)
	for _, opts := range [][]Option{nil, {AllowReinit()}, {InitDead()}, {InitAtomic()}} {
		r := New(nil, append(opts, Eager())...)
		if r.IsPercpu() {
			require.True(t, slots.IsSlot(r.cells.Base))
		} else {
			require.Nil(t, r.cells.Base, "a Ref that starts atomic has no slot yet")
		}
		if !r.IsDying() {
			r.Get()
		}
		r.Exit()
		assert.Nil(t, r.cells.Base, "Exit gives the cells back")
		assert.Equal(t, before.Live, slots.Stats().Live)
		runtime.KeepAlive(r)
	}
	slotGCUntil(t, "the exited Refs' slots became free", func() bool { return slots.Stats().Retired == 0 })
	assert.Equal(t, before.Live, slots.Stats().Live)
}

func TestSlotAllowReinitKeepsIt(t *testing.T) {
	before := slotSettle(t)
	var released atomic.Int32
	r := New(func() { released.Add(1) }, Eager(), AllowReinit())
	base := r.cells.Base
	r.Kill()
	assert.Equal(t, int32(1), released.Load())
	assert.Same(t, base, r.cells.Base, "AllowReinit keeps the slot through Kill")
	assert.Equal(t, before.Live+1, slots.Stats().Live)
	r.Reinit()
	assert.True(t, r.IsPercpu())
	slotSpread(r, 6)
	assert.Equal(t, int64(7), r.Read())
	slotUnspread(r, 6)
	r.Exit()
	assert.Nil(t, r.cells.Base)
	assert.Equal(t, before.Live, slots.Stats().Live)

	// Init after Exit takes a slot again (perhaps the same one, once its
	// grace period is over): the Ref now has two cleanups for its slots,
	// and when it is lost both run, and the slot it owns is counted down
	// once.
	slotGCUntil(t, "the exited slot became free", func() bool { return slots.Stats().Retired == 0 })
	r.Init(nil, Eager())
	assert.Same(t, base, r.cells.Base, "the freed slot is taken again")
	assert.Equal(t, int64(1), r.Read())
	assert.Equal(t, before.Live+1, slots.Stats().Live)
	r = nil
	slotGCUntil(t, "the re-initialised Ref's slot came back", func() bool { return slots.Stats().Live == before.Live })
	n := make([]*Ref, 4)
	for i := range n {
		n[i] = New(nil, Eager())
	}
	seen := map[*atomic.Int64]bool{}
	for _, x := range n {
		assert.False(t, seen[x.cells.Base], "two Refs on one slot")
		seen[x.cells.Base] = true
		x.Kill()
	}
}

func TestSlotReuseLeftovers(t *testing.T) {
	// Refs on slots that earlier Refs left counts in start at exactly 1
	// and count exactly, in whichever protocol is in use.
	t.Logf("fast path %s", percpu.FastPath())
	slotSettle(t)
	n := 64
	if testing.Short() {
		n = 16
	}
	leftovers := make(map[*atomic.Int64][]int64, n)
	olds := make([]*Ref, n)
	for i := range olds {
		var released atomic.Int32
		r := New(func() { released.Add(1) }, Eager())
		olds[i] = r
		l := slotLayoutOf(r)
		gets := 20 + i
		slotSpread(r, gets)
		if i%2 == 0 {
			slotUnspread(r, gets/2) // unmatched per-P counts: Puts on other Ps
			gets -= gets / 2
		}
		require.Equal(t, int64(1+gets), r.Read())
		r.Kill()
		require.Nil(t, r.cells.Base)
		slotUnspread(r, gets-1)
		require.Zero(t, released.Load(), "released with a reference held")
		require.True(t, r.Put())
		require.Equal(t, int32(1), released.Load())
		v := l.values()
		leftovers[l.base] = v
	}
	nonzero := 0
	for _, v := range leftovers {
		for _, x := range v {
			if x != 0 {
				nonzero++
			}
		}
	}
	require.NotZero(t, nonzero, "the killed Refs left counts in their slots")
	olds = nil
	slotGCUntil(t, "the killed Refs' slots became free", func() bool { return slots.Stats().Retired == 0 })

	mid := slots.Stats()
	reused := 0
	news := make([]*Ref, n)
	for i := range news {
		var opts []Option
		if i%3 == 1 {
			opts = append(opts, AllowReinit())
		}
		r := New(nil, append(opts, Eager())...)
		news[i] = r
		if v, ok := leftovers[r.cells.Base]; ok {
			reused++
			l := slotLayoutOf(r)
			if fastpath.Exclusive() {
				assert.Equal(t, v, l.values(), "the exclusive protocol keeps a reused slot's counts and absorbs them")
			} else {
				assert.Equal(t, make([]int64, len(v)), l.values(), "the fetchadd protocol swaps a reused slot's counts to 0")
			}
		}
		require.Equal(t, int64(1), r.Read(), "a Ref on a reused slot starts at 1")
		require.True(t, r.IsPercpu())
	}
	assert.Equal(t, n, reused, "every new Ref took a freed slot")
	assert.Equal(t, mid.Slots, slots.Stats().Slots, "no new slot was made")

	for i, r := range news {
		var released atomic.Int32
		r.setReleaseForTest(func() { released.Add(1) })
		slotSpread(r, 30+i)
		require.Equal(t, int64(31+i), r.Read())
		slotUnspread(r, 10)
		require.Equal(t, int64(21+i), r.Read())
		if i%3 == 1 {
			r.SwitchToAtomicSync()
			require.Equal(t, int64(21+i), r.Read(), "exact after a switch to atomic")
			r.SwitchToPercpu()
			require.True(t, r.IsPercpu())
			slotSpread(r, 4)
			slotUnspread(r, 4)
			require.Equal(t, int64(21+i), r.Read(), "exact after a switch back")
		}
		r.Kill()
		require.Equal(t, int64(20+i), r.Read(), "exact after Kill")
		slotUnspread(r, 19+i)
		require.Zero(t, released.Load(), "released early")
		require.Equal(t, int64(1), r.Read())
		require.True(t, r.Put(), "the last Put releases")
		require.Equal(t, int32(1), released.Load())
		require.True(t, r.IsZero())
	}
}

// An atomic-mode Ref from InitAtomic or InitDead is an atomic count: no
// slot, no cleanup, one allocation (the Ref) for New, none for its release.
// It takes its slot when it first goes per-CPU (SwitchToPercpu, or Reinit
// or Resurrect after it, or Reinit of an InitDead Ref), and a Lazy one goes
// per-CPU without cells, as a Lazy Ref does.
func TestSlotAtomicRefTakesItsSlotWhenItGoesPercpu(t *testing.T) {
	before := slotSettle(t)
	var released atomic.Int32
	release := func() { released.Add(1) }
	if !debugBuild { // the percpurefdebug records allocate
		allocs := testing.AllocsPerRun(100, func() {
			r := New(release, InitAtomic())
			r.Get()
			r.Put()
			r.Put()
		})
		assert.Equal(t, float64(1), allocs, "an InitAtomic Ref's life: the Ref alone")
		assert.Equal(t, int32(101), released.Load())
		assert.Equal(t, float64(1), testing.AllocsPerRun(100, func() { New(release, InitDead()) }), "an InitDead Ref")
		assert.Equal(t, float64(1), testing.AllocsPerRun(100, func() {
			New(release, Lazy(), AllowReinit(), InitAtomic(), Option{})
		}), "options are values: passing them allocates nothing")
	}
	for range 10 {
		New(release, InitAtomic(), AllowReinit(), WithMisuseHandler(func(error) {})).Put()
	}
	assert.Equal(t, before.Live, slots.Stats().Live, "no slot taken")

	for _, c := range []struct {
		name  string
		opts  []Option
		toPcp func(r *Ref)
	}{
		{"SwitchToPercpu", []Option{InitAtomic(), Eager()}, (*Ref).SwitchToPercpu},
		{"Resurrect", []Option{InitAtomic(), Eager()}, func(r *Ref) { r.Get(); r.Kill(); r.SwitchToPercpu(); r.Resurrect(); r.Put() }},
		{"Reinit", []Option{InitAtomic(), Eager()}, func(r *Ref) { r.Kill(); r.SwitchToPercpu(); r.Reinit() }},
		{"Reinit of InitDead", []Option{InitDead(), Eager()}, (*Ref).Reinit},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := New(nil, c.opts...)
			if !r.IsDying() {
				r.GetMany(3)
				r.PutMany(3)
			}
			assert.Nil(t, r.cells.Base)
			assert.Equal(t, before.Live, slots.Stats().Live)
			c.toPcp(r)
			require.True(t, r.IsPercpu())
			require.True(t, slots.IsSlot(r.cells.Base), "a slot, as an Eager Ref has")
			assert.Equal(t, before.Live+1, slots.Stats().Live)
			slotSpread(r, 5)
			assert.Equal(t, int64(6), r.Read())
			slotUnspread(r, 5)
			r.SwitchToAtomicSync()
			assert.Equal(t, int64(1), r.Read())
			r.Exit()
			assert.Equal(t, before.Live, slots.Stats().Live, "Exit gave it back")
		})
	}

	t.Run("Lazy", func(t *testing.T) {
		r := New(nil, InitAtomic(), Lazy())
		r.SwitchToPercpu()
		require.True(t, r.IsPercpu())
		assert.Nil(t, r.cells.Base, "per-CPU as a Lazy Ref, without cells")
		assert.Equal(t, before.Live, slots.Stats().Live)
		r.GetMany(2)
		r.spread() // what the first failed compare-and-swap does
		require.True(t, slots.IsSlot(r.cells.Base))
		slotSpread(r, 4)
		assert.Equal(t, int64(7), r.Read())
		slotUnspread(r, 4)
		r.PutMany(2)
		r.Kill()
		assert.True(t, r.IsZero())
		assert.NotNil(t, r.cells.Base, "InitAtomic implies AllowReinit: Kill keeps the cells")
		r.Exit()
		assert.Nil(t, r.cells.Base, "Exit gives them back")
		assert.Equal(t, before.Live, slots.Stats().Live)
	})

	// A Ref that took its slot late and is then lost gives it back.
	lost := New(nil, InitAtomic(), Eager())
	lost.SwitchToPercpu()
	require.NotNil(t, lost.cells.Base)
	slotDropAndWait(t, &lost)
	slotGCUntil(t, "the lost Ref's slot came back", func() bool {
		s := slots.Stats()
		return s.Live == before.Live && s.Retired == 0
	})
}

func TestSlotWithShardsLeavesTheArena(t *testing.T) {
	before := slotSettle(t)
	var released atomic.Int32
	refs := make([]*Ref, 8)
	for i := range refs {
		refs[i] = New(func() { released.Add(1) }, WithShards(i))
		require.NotNil(t, refs[i].cells.Base)
		assert.False(t, slots.IsSlot(refs[i].cells.Base), "padded shards are not a slot")
	}
	assert.Equal(t, before, slots.Stats(), "WithShards Refs take nothing from the arena")
	for i, r := range refs {
		slotSpread(r, 12)
		require.Equal(t, int64(13), r.Read())
		slotUnspread(r, 12)
		if i%2 == 0 {
			r.Kill()
			assert.Nil(t, r.cells.Base)
			assert.Equal(t, int64(0), r.Read())
		} else {
			r.Exit()
			assert.Equal(t, int64(1), r.Read())
		}
	}
	assert.Equal(t, int32(4), released.Load())
	assert.Equal(t, before, slots.Stats(), "giving padded shards back leaves the arena alone")
	lost := New(nil, WithShards(4))
	lost.Get()
	slotDropAndWait(t, &lost)
	assert.Equal(t, before.Live, slots.Stats().Live, "a lost WithShards Ref gives nothing back")
	assert.Equal(t, before.Slots, slots.Stats().Slots)
}

func TestSlotLazyTakesOneWhenItSpreads(t *testing.T) {
	before := slotSettle(t)
	var released atomic.Int32
	r := New(func() { released.Add(1) }, Lazy())
	assert.Nil(t, r.cells.Base, "a Lazy Ref starts without cells")
	assert.Equal(t, before.Live, slots.Stats().Live, "and takes no slot")
	r.GetMany(5)
	r.spread() // what the first failed compare-and-swap does
	require.True(t, slots.IsSlot(r.cells.Base), "a Lazy Ref spreads onto a slot")
	assert.Equal(t, before.Live+1, slots.Stats().Live)
	slotSpread(r, 7)
	assert.Equal(t, int64(13), r.Read(), "counts taken before and after the spread")
	slotUnspread(r, 12)
	r.Kill()
	assert.Nil(t, r.cells.Base)
	assert.Equal(t, int32(1), released.Load())
	assert.Equal(t, before.Live, slots.Stats().Live, "Kill gave the slot back")

	never := New(nil, Lazy()) // lost before it spread
	never.Get()
	spread := New(nil, Lazy()) // lost after it spread
	spread.spread()
	require.NotNil(t, spread.cells.Base)
	spread.Get()
	slotDropAndWait(t, &never)
	slotDropAndWait(t, &spread)
	slotGCUntil(t, "the lost Lazy Ref's slot came back", func() bool {
		s := slots.Stats()
		return s.Live == before.Live && s.Retired == 0
	})
	runtime.KeepAlive(r)
}

// slotErrs collects failures from goroutines, to report after they end.
type slotErrs struct {
	mu   sync.Mutex
	errs []string
}

func (e *slotErrs) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.errs) < 20 {
		e.errs = append(e.errs, fmt.Sprintf(format, args...))
	}
}

func (e *slotErrs) check(t *testing.T) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.errs {
		t.Error(s)
	}
}

// slotTracked is a Ref with its holders counted beside it: every Get is
// followed, and every Put preceded, by a change of holders, so release must
// find holders at 0.
type slotTracked struct {
	r        *Ref
	holders  atomic.Int64
	released atomic.Int32
	killed   atomic.Bool
}

func newSlotTracked(errs *slotErrs, name string, opts ...Option) *slotTracked {
	s := new(slotTracked)
	s.holders.Store(1) // the owner's initial reference
	s.r = New(func() {
		if h := s.holders.Load(); h != 0 {
			errs.add("%s: release ran with %d holders", name, h)
		}
		if s.released.Add(1) != 1 {
			errs.add("%s: release ran twice", name)
		}
	}, append([]Option{Eager()}, opts...)...) // a Lazy among opts overrides Eager
	return s
}

func (s *slotTracked) get() {
	s.r.Get()
	s.holders.Add(1)
}

func (s *slotTracked) put() {
	s.holders.Add(-1)
	s.r.Put()
}

func TestSlotReuseStress(t *testing.T) {
	t.Logf("fast path %s", percpu.FastPath())
	oldProcs := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(oldProcs) })
	before := slotSettle(t)
	dur := 2 * time.Second
	if testing.Short() {
		dur = 300 * time.Millisecond
	}
	errs := new(slotErrs)
	stop := make(chan struct{})
	var wg sync.WaitGroup

	// Long-lived Refs, taken and dropped all the time.
	longs := make([]*slotTracked, 4)
	for i := range longs {
		longs[i] = newSlotTracked(errs, fmt.Sprintf("long%d", i))
	}
	var longOps atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				s := longs[(w+i)%len(longs)]
				s.get()
				runtime.Gosched()
				if i%5 == 0 {
					s.r.GetMany(3)
					s.holders.Add(3)
					runtime.Gosched()
					s.holders.Add(-3)
					s.r.PutMany(3)
				}
				if s.r.TryGet() {
					s.holders.Add(1)
					s.put()
				}
				s.put()
				longOps.Add(1)
			}
		}(w)
	}

	// Short-lived Refs (some AllowReinit, some Lazy): made, used from
	// several goroutines, then killed (while in use), exited, or lost.
	var made, killed, exited, lost atomic.Int64
	for c := 0; c < 3; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var opts []Option
				if i%7 == 3 {
					opts = append(opts, AllowReinit())
				}
				if i%5 == 2 {
					opts = append(opts, Lazy()) // takes its slot when the users contend
				}
				name := fmt.Sprintf("c%d.%d", c, i)
				s := newSlotTracked(errs, name, opts...)
				made.Add(1)
				var users sync.WaitGroup
				for u := 0; u < 3; u++ {
					s.get() // handed to the user
					users.Add(1)
					go func(u int) {
						defer users.Done()
						for k := 0; k < 20; k++ {
							s.get()
							runtime.Gosched()
							wasKilled := s.killed.Load()
							if s.r.TryGetLive() {
								if wasKilled {
									errs.add("%s: TryGetLive succeeded after Kill", name)
								}
								s.holders.Add(1)
								s.put()
							}
							s.put()
							if k%4 == u {
								runtime.Gosched()
							}
						}
						s.put() // the reference it was handed
					}(u)
				}
				runtime.Gosched()
				switch i % 3 {
				case 0: // killed while the users run
					s.holders.Add(-1)
					s.r.Kill()
					s.killed.Store(true)
					users.Wait()
					if got := s.released.Load(); got != 1 {
						errs.add("%s: released %d times", name, got)
					}
					if v := s.r.Read(); v != 0 {
						errs.add("%s: count %d after release", name, v)
					}
					killed.Add(1)
				case 1: // exited once the users are done
					users.Wait()
					if v := s.r.Read(); v != 1 {
						errs.add("%s: count %d, want 1", name, v)
					}
					s.r.Exit()
					if v := s.r.Read(); v != 1 {
						errs.add("%s: count %d after Exit, want 1", name, v)
					}
					exited.Add(1)
				case 2: // lost once the users are done
					users.Wait()
					if v := s.r.Read(); v != 1 {
						errs.add("%s: count %d, want 1", name, v)
					}
					lost.Add(1)
				}
				if s.released.Load() != 0 && i%3 != 0 {
					errs.add("%s: released without Kill", name)
				}
			}
		}(c)
	}

	// GC cycles now and then, and GOMAXPROCS moving between 1, 2 and 4.
	wg.Add(1)
	go func() {
		defer wg.Done()
		procs := []int{1, 4, 2, 4, 1, 2}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.GC()
			if i%3 == 0 {
				runtime.GOMAXPROCS(procs[(i/3)%len(procs)])
			}
		}
	}()

	time.Sleep(dur)
	close(stop)
	wg.Wait()
	runtime.GOMAXPROCS(oldProcs)
	errs.check(t)
	t.Logf("%d long-lived ops; %d Refs made: %d killed, %d exited, %d lost", longOps.Load(), made.Load(), killed.Load(), exited.Load(), lost.Load())
	require.NotZero(t, killed.Load())
	require.NotZero(t, exited.Load())
	require.NotZero(t, lost.Load())

	for i, s := range longs {
		require.Equal(t, int64(1), s.r.Read(), "long%d's count after the workers stopped", i)
		require.Zero(t, s.released.Load())
		s.holders.Add(-1)
		s.r.Kill()
		require.Equal(t, int32(1), s.released.Load(), "long%d released by Kill", i)
	}
	errs.check(t)
	longs = nil
	// With every P the test used back (see slotSettle).
	runtime.GOMAXPROCS(4)
	slotGCUntil(t, "every slot the test took came back", func() bool {
		s := slots.Stats()
		return s.Live == before.Live && s.Retired == 0
	})
	runtime.GOMAXPROCS(oldProcs)
}
