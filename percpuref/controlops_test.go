package percpuref

// The control operations (Kill, Resurrect, the switches, Read) racing each
// other and the counting operations.

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Control operations race each other and the fast path (the Ref's doc:
// they are serialised inside the Ref and may race). Holders keep a base
// reference throughout, so nothing may be released until they drop it; the
// only reports allowed are the ones the races make legitimate (Kill on a
// dying Ref, Resurrect on a live one).
func TestControlOpsRaceEachOther(t *testing.T) {
	const holders = 4
	var log semLog
	var held atomic.Int64
	var rel semRel
	var early atomic.Bool
	r := New(func() {
		rel.n.Add(1)
		if held.Load() != 0 {
			early.Store(true)
		}
	}, AllowReinit(), log.option())
	held.Store(holders)
	r.GetMany(holders)
	ops := []func(){
		r.Kill,
		r.Resurrect,
		r.SwitchToAtomicSync,
		r.SwitchToPercpu,
		func() { _ = r.Read() },
	}
	semHammer(holders, func(stopped func() bool) {
		for !stopped() {
			r.Get()
			if r.TryGet() {
				r.Put()
			}
			if r.TryGetLive() { // fails while dying
				r.Put()
			}
			r.GetMany(2)
			r.PutMany(2)
			r.Put()
		}
	}, func() {
		var cw sync.WaitGroup
		for g := 0; g < 3; g++ {
			cw.Add(1)
			go func() {
				defer cw.Done()
				for i := 0; i < 300; i++ {
					ops[(i*7+g)%len(ops)]()
				}
			}()
		}
		cw.Wait()
	})
	for _, err := range log.all() {
		if !errors.Is(err, ErrKilled) && !errors.Is(err, ErrLive) {
			t.Errorf("unexpected report: %v", err)
		}
	}
	t.Logf("%d expected reports", len(log.all()))
	assert.Equal(t, 0, rel.calls())
	if !r.IsDying() {
		r.Kill()
	}
	assert.Equal(t, int64(holders), r.Read(), "exact after Kill: only the base refs")
	held.Store(0)
	assert.False(t, r.PutMany(holders-1))
	assert.True(t, r.Put())
	assert.Equal(t, 1, rel.calls())
	assert.False(t, early.Load(), "released while a holder still had its base ref")
}
