package percpuref

// IsZero, IsDying, IsPercpu and Read across a Ref's life.

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPredicatesAcrossLifecycle(t *testing.T) {
	type snap struct {
		zero, dying, percpu bool
		count               int64
	}
	get := func(r *Ref) snap { return snap{r.IsZero(), r.IsDying(), r.IsPercpu(), r.Read()} }
	r := New(nil, AllowReinit())
	assert.Equal(t, snap{false, false, true, 1}, get(r), "new")
	r.GetMany(2)
	assert.Equal(t, snap{false, false, true, 3}, get(r), "per-CPU with refs")
	r.SwitchToAtomicSync()
	assert.Equal(t, snap{false, false, false, 3}, get(r), "switched")
	r.SwitchToPercpu()
	assert.Equal(t, snap{false, false, true, 3}, get(r), "back")
	r.Kill()
	assert.Equal(t, snap{false, true, false, 2}, get(r), "killed")
	r.PutMany(2)
	assert.Equal(t, snap{true, true, false, 0}, get(r), "released")
	r.Reinit()
	assert.Equal(t, snap{false, false, true, 1}, get(r), "reinit")
	r.Exit()
	assert.Equal(t, snap{false, false, false, 1}, get(r), "exited")
}

// Kernel edge case `is-zero` (docs/semantics.md): IsZero is false in
// per-CPU mode; after Exit it reports the count Exit kept.
func TestIsZeroInPercpuModeAndAfterExit(t *testing.T) {
	r := New(nil)
	assert.False(t, r.IsZero())
	r.Get()
	r.Exit()
	assert.False(t, r.IsZero())
	assert.Equal(t, int64(2), r.Read())

	r2 := New(nil)
	r2.Kill()
	r2.Exit()
	assert.True(t, r2.IsZero())
	assert.Equal(t, int64(0), r2.Read())
}
