package percpuref

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The central count's range is checked in per-CPU mode as in atomic mode
// (docs/semantics.md, "Misuse"; protocol.go, "The ranges of C"). Reaching
// the edges of the range takes 2^59 operations, so these tests start there
// (white-box) and cross them through the API.

// rangeCases are Refs whose every operation reaches the central count in
// per-CPU mode: Lazy ones, which have no cells until contention.
var rangeCases = []struct {
	name string
	make func(release func(), o Option) *Ref
}{
	{"lazy", func(f func(), o Option) *Ref { return New(f, Lazy(), o) }},
	{"lazy-allowreinit", func(f func(), o Option) *Ref { return New(f, Lazy(), AllowReinit(), o) }},
}

// More Puts than Gets in per-CPU mode, made on the central count, are
// reported once C leaves its range, as an underflow naming the folded
// count; release never runs, the Ref is poisoned and no longer per-CPU.
func TestMisuseRangePercpuUnderflow(t *testing.T) {
	for _, c := range rangeCases {
		t.Run(c.name, func(t *testing.T) {
			var log semLog
			released := 0
			r := c.make(func() { released++ }, log.option())
			r.count.Store(percpuLow + 2) // as after 2^59 - 1 Puts more than Gets
			assert.False(t, r.PutMany(2), "no release in per-CPU mode")
			assert.Empty(t, log.all(), "percpuLow is in range")
			assert.False(t, r.PutMany(3), "no release in per-CPU mode")
			require.Len(t, log.all(), 1, "reported by the Put that left the range")
			err := log.all()[0]
			semRequireMisuse(t, err, ErrUnderflow, "PutMany", countAtReport(err))
			assert.Less(t, countAtReport(err), int64(0), "the folded count is below zero")
			assert.Zero(t, released, "release never runs")
			assert.False(t, r.IsPercpu(), "folded to atomic mode")
			assert.Equal(t, int64(poison), r.count.Load(), "poisoned")

			r.Put()
			r.Get()
			require.Len(t, log.all(), 3, "every later Get and Put is reported")
			semRequirePoisoned(t, log.all()[1], ErrUnderflow, "Put")
			semRequirePoisoned(t, log.all()[2], ErrUnderflow, "Get")
			assert.False(t, r.TryGet())
			assert.Equal(t, int64(poison), r.count.Load(), "a poisoned count never moves")
			assert.Zero(t, released)
		})
	}
}

// The case end to end in the Put that the old code let release: a
// per-CPU central count taken all the way to zero runs no release. The
// count starts one Put above the edge of the range.
func TestMisuseRangePercpuPutManyNeverReleases(t *testing.T) {
	var log semLog
	released := 0
	r := New(func() { released++ }, Lazy(), log.option())
	r.count.Store(percpuLow)
	for i := 0; i < 1000 && len(log.all()) == 0; i++ {
		if r.PutMany(MaxDelta) {
			t.Fatal("PutMany released a per-CPU Ref")
		}
	}
	require.NotEmpty(t, log.all())
	semRequireMisuse(t, log.all()[0], ErrUnderflow, "PutMany", countAtReport(log.all()[0]))
	assert.Zero(t, released)
	r.Kill()
	require.Len(t, log.all(), 2, "Kill on the poisoned Ref is reported")
	semRequirePoisoned(t, log.all()[1], ErrUnderflow, "Kill")
	assert.Zero(t, released, "Kill drops nothing from a poisoned count")
}

// A per-CPU count that passes the top of the range is reported as
// saturated, naming the folded count, and pinned; it never wraps.
func TestMisuseRangePercpuSaturation(t *testing.T) {
	for _, c := range rangeCases {
		t.Run(c.name, func(t *testing.T) {
			var log semLog
			r := c.make(nil, log.option())
			r.count.Store(percpuHigh - 1)
			r.Get() // percpuHigh: still in range
			assert.Empty(t, log.all())
			r.GetMany(2)
			require.Len(t, log.all(), 1)
			err := log.all()[0]
			semRequireMisuse(t, err, ErrSaturated, "GetMany", countAtReport(err))
			assert.Greater(t, countAtReport(err), int64(MaxCount), "the folded count is past MaxCount")
			assert.Equal(t, int64(MaxCount), r.Read(), "pinned")
			r.Put()
			require.Len(t, log.all(), 2)
			semRequirePoisoned(t, log.all()[1], ErrSaturated, "Put")
			r.Reinit()
			require.Len(t, log.all(), 3, "no Reinit: references may be held")
			semRequirePoisoned(t, log.all()[2], ErrSaturated, "Reinit")
		})
	}
}

// Within the range nothing is reported, at either edge, and the count the
// fold finds is exact.
func TestMisuseRangeEdgesAreValid(t *testing.T) {
	var log semLog
	r := New(nil, Lazy(), log.option())
	r.count.Store(percpuLow + 1)
	r.Put() // percpuLow
	r.Get()
	r.Get()
	r.count.Store(percpuHigh - 1)
	r.Get() // percpuHigh
	r.Put()
	assert.Empty(t, log.all())
	assert.True(t, r.IsPercpu())
	assert.Equal(t, int64(MaxCount+1<<59-1), r.Read())
}

// An atomic count that a Get took past MaxCount and a Put lowered again
// before the check is still reported: the Get's result says so, whatever
// the count is by then.
func TestMisuseRangeAtomicSaturationSeenLate(t *testing.T) {
	var log semLog
	r := New(nil, InitAtomic(), log.option())
	r.count.Store(MaxCount)
	r.outOfRange("Get", true, MaxCount, MaxCount+1) // the count is MaxCount again
	require.Len(t, log.all(), 1)
	semRequireMisuse(t, log.all()[0], ErrSaturated, "Get", MaxCount)
	assert.Equal(t, int64(MaxCount), r.Read())
}

// countAtReport is the Count of err, a *MisuseError.
func countAtReport(err error) int64 {
	if e, ok := err.(*MisuseError); ok {
		return e.Count
	}
	return 0
}
