//go:build !purego && !race

package percpuref

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestFastMatchesGo runs Get, Put, TryGet and TryGetLive through the
// assembly (getFast, putFast, tryGetFast, tryGetLiveFast) and through the Go
// paths they replace (get(false), put(false), tryGet(false, live)),
// each on its own Ref built the same way, in every state the misuse tests
// build and a few more, for every sequence of up to three operations. After
// each step the two Refs must agree on what the operation returned, the
// state word, the logical count, the misuses reported and the releases run.
func TestFastMatchesGo(t *testing.T) {
	modes := []misuseMode{
		{"percpu-slots", mmNew(), 0, 1},
		{"percpu-padded-1-shard", mmNew(WithShards(1)), 0, 1}, // Ps beyond the one cell take C
		{"lazy", mmNew(Lazy()), 0, 1},
		{"lazy-spread", mmThen(mmNew(Lazy()), func(r *Ref) { r.spread() }), 0, 1},
		{"zero-Ref", func(rel func(), o ...Option) *Ref { return new(Ref) }, 0, 0},
		// The edges of tryGetFast's compare-and-swap range in atomic mode.
		{"atomic-below-max", mmThen(mmNew(InitAtomic()), func(r *Ref) { r.count.Store(MaxCount - 2) }), 0, MaxCount - 2},
		{"dying-below-max", mmThen(mmNew(), mmGet, mmKill, func(r *Ref) { r.count.Store(MaxCount - 1) }), 0, MaxCount - 1},
		mPercpu, mResurrected, mReinited, mAtomicInit, mAtomicSwitched, mDying, mInitDead,
		mRelInit, mRelSwitched, mRelDying, mNoReSwitched, mNoReDying, mNoReReleased,
		mExitedPercpu, mExitedAtomic, mExitedDying, mExitedReleased,
		mSatAtomic, mSatDying, mSatPercpu,
	}
	type op struct {
		name     string
		asm, gen func(*Ref) bool
	}
	ops := []op{
		{"Get", func(r *Ref) bool { r.Get(); return false }, func(r *Ref) bool { r.get(false); return false }},
		{"Put", func(r *Ref) bool { return r.Put() }, func(r *Ref) bool { return r.put(false) }},
		{"TryGet", func(r *Ref) bool { return r.TryGet() }, func(r *Ref) bool { return r.tryGet(false, false) }},
		{"TryGetLive", func(r *Ref) bool { return r.TryGetLive() }, func(r *Ref) bool { return r.tryGet(false, true) }},
	}
	var seqs [][]op
	for n := 1; n <= 3; n++ {
		for code := 0; code < pow(len(ops), n); code++ {
			var s []op
			for i, c := 0, code; i < n; i, c = i+1, c/len(ops) {
				s = append(s, ops[c%len(ops)])
			}
			seqs = append(seqs, s)
		}
	}

	// side is one Ref and what was seen of it.
	type side struct {
		r        *Ref
		misuses  []string
		releases int
	}
	// do runs f on s.r; a panic (the zero Ref has no handler) counts as a
	// misuse reported.
	do := func(s *side, f func(*Ref) bool) (ok bool) {
		defer func() {
			if p := recover(); p != nil {
				s.misuses = append(s.misuses, fmt.Sprint("panic: ", p))
			}
		}()
		return f(s.r)
	}
	build := func(m misuseMode) *side {
		s := new(side)
		s.r = m.mk(func() { s.releases++ }, WithMisuseHandler(func(err error) { s.misuses = append(s.misuses, err.Error()) }))
		return s
	}
	runs := 0
	for _, m := range modes {
		for _, seq := range seqs {
			var names []string
			for _, o := range seq {
				names = append(names, o.name)
			}
			name := m.name + "/" + strings.Join(names, ",")
			a, g := build(m), build(m)
			for i, o := range seq {
				okA, okG := do(a, o.asm), do(g, o.gen)
				step := fmt.Sprintf("%s: step %d (%s)", name, i+1, o.name)
				assert.Equal(t, okG, okA, "%s: result", step)
				assert.Equal(t, g.r.cells.State.Load(), a.r.cells.State.Load(), "%s: state", step)
				assert.Equal(t, g.r.Read(), a.r.Read(), "%s: count", step)
				assert.Equal(t, g.misuses, a.misuses, "%s: misuses", step)
				assert.Equal(t, g.releases, a.releases, "%s: releases", step)
				runs++
			}
		}
	}
	t.Logf("%d steps in %d states compared", runs, len(modes))
}

// pow returns b to the power e, for small non-negative e.
func pow(b, e int) int {
	p := 1
	for ; e > 0; e-- {
		p *= b
	}
	return p
}
