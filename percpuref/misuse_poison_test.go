package percpuref

// Misuse that breaks the count: the first is reported and poisons the count,
// every later use of it is reported too, and release never runs because of
// it (docs/semantics.md, "Misuse", rule 3).

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Kernel edge case `percpu-underflow` (docs/semantics.md): the owner Puts
// its initial ref in per-CPU mode: nothing happens then; the later Kill
// folds a count <= 0. The kernel WARNs and leaks; here Kill reports
// ErrUnderflow, the count is poisoned, release never runs.
func TestPercpuUnderflowIsFoundAtKillAndPoisons(t *testing.T) {
	t.Run("handler", func(t *testing.T) {
		var rel semRel
		var log semLog
		r := New(rel.fn(), log.option())
		assert.False(t, r.Put())
		assert.Empty(t, log.all(), "not detectable on the per-CPU fast path")
		assert.Equal(t, 0, rel.calls())
		r.Kill()
		require.Len(t, log.all(), 1)
		semRequireMisuse(t, log.all()[0], ErrUnderflow, "Kill", 0)
		assert.Equal(t, 0, rel.calls(), "release never runs")
		assert.True(t, isPoisoned(r))
		assert.Equal(t, int64(MaxCount), r.Read(), "poisoned without release: leaked")
		assert.False(t, r.IsZero())
		assert.False(t, semClosed(r.Done()))
	})
	t.Run("default-panics", func(t *testing.T) {
		var rel semRel
		r := New(rel.fn())
		r.Put()
		me := semCatch(r.Kill)
		require.NotNil(t, me)
		semRequireMisuse(t, me, ErrUnderflow, "Kill", 0)
		assert.Equal(t, 0, rel.calls())
	})
}

// Kernel edge case `put-past-zero` (docs/semantics.md): an extra Put in
// atomic mode past zero. percpu_ref: silent, negative count, no second
// release. Here: ErrUnderflow naming the count found (0), poisoned, no
// second release, and every later Put reported too.
func TestPutPastZeroIsReportedAndPoisons(t *testing.T) {
	var rel semRel
	var log semLog
	r := New(rel.fn(), InitAtomic(), log.option())
	assert.True(t, r.Put())
	assert.False(t, r.Put())
	require.Len(t, log.all(), 1)
	semRequireMisuse(t, log.all()[0], ErrUnderflow, "Put", 0)
	assert.Equal(t, 1, rel.calls())
	assert.True(t, isPoisoned(r))
	assert.Equal(t, int64(0), r.Read(), "released: reads as 0")
	assert.True(t, r.IsZero())
	assert.False(t, r.Put())
	require.Len(t, log.all(), 2)
	semRequirePoisoned(t, log.all()[1], ErrUnderflow, "Put")
	assert.Equal(t, int64(poison), r.count.Load(), "a poisoned count never moves")
}

// Kernel edge case `get-at-zero` (docs/semantics.md): a Get in atomic mode
// at count 0 (after release). percpu_ref: a silent increment. Here:
// ErrReleased naming the count found (0), poisoned, and the matching Put is
// reported too and does not release again.
func TestGetAtZeroIsReportedAndPoisons(t *testing.T) {
	var rel semRel
	var log semLog
	r := New(rel.fn(), InitAtomic(), log.option())
	assert.True(t, r.Put())
	r.Get()
	require.Len(t, log.all(), 1)
	semRequireMisuse(t, log.all()[0], ErrReleased, "Get", 0)
	assert.False(t, r.Put())
	require.Len(t, log.all(), 2)
	semRequirePoisoned(t, log.all()[1], ErrUnderflow, "Put")
	assert.Equal(t, 1, rel.calls())
	assert.True(t, isPoisoned(r))
	assert.Equal(t, int64(poison), r.count.Load(), "a poisoned count never moves")
}

// Kernel edge case `underflow-reports` (docs/semantics.md): the kernel's
// WARN prints once, with extra dumps for the first 3. Here the first
// misuse that breaks the count is reported and poisons it; every later Put
// and Get on the poisoned count is reported too, with the cause of the
// poisoning, and leaves the count where it is (so none can reach zero).
func TestMisuseOfPoisonedCountIsReportedEveryTime(t *testing.T) {
	t.Run("atomic-puts", func(t *testing.T) {
		var rel semRel
		var log semLog
		r := New(rel.fn(), InitAtomic(), log.option())
		r.Put()
		for i := 0; i < 5; i++ {
			assert.False(t, r.Put())
		}
		require.Len(t, log.all(), 5)
		semRequireMisuse(t, log.all()[0], ErrUnderflow, "Put", 0)
		for _, err := range log.all()[1:] {
			semRequirePoisoned(t, err, ErrUnderflow, "Put")
		}
		assert.Equal(t, 1, rel.calls())
		assert.Equal(t, int64(poison), r.count.Load())
	})
	t.Run("gets-at-zero", func(t *testing.T) {
		var log semLog
		r := New(nil, InitAtomic(), log.option())
		r.Put()
		for i := 0; i < 5; i++ {
			r.Get()
		}
		require.Len(t, log.all(), 5)
		semRequireMisuse(t, log.all()[0], ErrReleased, "Get", 0)
		for _, err := range log.all()[1:] {
			semRequirePoisoned(t, err, ErrReleased, "Get")
		}
		assert.Equal(t, int64(poison), r.count.Load())
	})
	t.Run("percpu-then-kill", func(t *testing.T) {
		var rel semRel
		var log semLog
		r := New(rel.fn(), log.option())
		r.PutMany(3)
		r.Kill()
		for i := 0; i < 5; i++ {
			r.Put()
		}
		require.Len(t, log.all(), 6)
		semRequireMisuse(t, log.all()[0], ErrUnderflow, "Kill", -2)
		for _, err := range log.all()[1:] {
			semRequirePoisoned(t, err, ErrUnderflow, "Put")
		}
		assert.Equal(t, 0, rel.calls())
		assert.Equal(t, int64(poison), r.count.Load())
	})
}
