package percpuref

// Control operations called from inside the Ref's own callbacks: the confirm
// of KillAndConfirm and of SwitchToAtomic, release, and a misuse handler
// (WithMisuseHandler, and SetMisuseHandler) while it handles a report. The
// rules are those of docs/semantics.md, "Calls from confirm, release and a
// misuse handler": every control operation either happens whole or is
// reported once and changes nothing, from every callback, in every state a
// callback can see.
//
// reentTable is the spec. A callback sees the Ref in one of a few states
// (reentClass: live, dying, released, ...); for each of those states and
// each control operation the table says what the operation must do: the report it makes
// (Err, Count, Poisoned) and that it changes nothing, or its whole effect on
// the Ref's observable state (Read, IsZero, IsDying, IsPercpu, TryGetLive,
// Done; and, white-box, exited, poisoned, the stickiness of atomic mode and
// whether the cells were given back). The effects (reentModel's methods)
// are the doc comments' words, not the code's. The sites (reentSites) reach
// each state in each option set of the misuse matrix; a case is a site, an
// option set, a control operation and a handler kind. Each case checks:
//
//   - no deadlock: the case runs in a goroutine that must finish within
//     reentTimeout;
//   - the callback saw the state its class describes (the setup is right);
//   - the handled report, for a handler site, is the one the misuse table
//     names (misuse_test.go);
//   - the operation made exactly the report the table names and changed
//     nothing, or made none and had exactly its whole effect; a confirm
//     passed to it ran once if and only if it happened whole;
//   - what the outer operation does after the callback (Kill drops the
//     initial reference; release's Done closes) happens as the table's
//     model says, with no further report;
//   - release ran exactly once per life that ended, never while a reference
//     the test holds was still held: after the case, the test drops its
//     references and kills a live Ref, and the life then running (if any)
//     ends with exactly one release.

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reentClass is a state a callback can see the Ref in. The table is per
// state, not per callback: an operation called from a callback does what it
// does in the state the Ref is in at that moment, and then the outer
// operation does what it has left to do (reentSite.after).
type reentClass int

const (
	// Live: set up, not dying, not released, not poisoned, not exited
	// (per-CPU or atomic). Seen by SwitchToAtomic's confirm, and by a
	// handler of a misuse that changed nothing (GetMany(0), Reinit while
	// references are held, Init on a live Ref).
	live reentClass = iota
	// Dying, count above zero, not released. Seen by KillAndConfirm's
	// confirm (the initial reference is still counted: Kill drops it once
	// confirm returns), by SwitchToAtomic's confirm after Kill, and by the
	// handler of a second Kill.
	dying
	// Released (release has begun, and may still run), and not poisoned:
	// count 0. Seen by release (Done not yet closed), and after it returned
	// by SwitchToAtomic's confirm and by the handler of a Kill of the
	// released Ref.
	released
	// Released, then poisoned by a Get or Put on the released count (a
	// control operation names the cause ErrReleased). Seen by the handler of
	// that Get or Put.
	releasedPoisoned
	// Poisoned while not released (an underflow found at a fold or at a
	// Put, a saturation): the Ref leaks; Read shows MaxCount. Seen by the
	// handler of that misuse.
	leaking
	// Made with InitDead and never made live: count 0, dying, nothing held.
	// Seen by the handler of a Get (which poisons it, cause ErrNeverLive)
	// or of a Resurrect (which does not), and by SwitchToAtomic's confirm.
	neverLive
	// Exited. Seen by the handler of an operation after Exit.
	exited
	reentClasses
)

var reentClassNames = [reentClasses]string{
	"live", "dying", "released", "released-poisoned", "leaking", "never-live", "exited",
}

// reentState is what the test observes of a Ref: the public predicates, and
// four white-box bits the contract speaks of (exited; poisoned; sticky, the
// stickiness of atomic mode; freed, the cells given back). Live is
// TryGetLive's answer (the reference it takes is put back at once);
// DoneClosed is whether the channel Done returns is closed.
type reentState struct {
	Read                                  int64
	Zero, Dying, Percpu, Live, DoneClosed bool
	Exited, Poisoned, Sticky, Freed       bool
}

func reentSnapshot(r *Ref) (reentState, <-chan struct{}) {
	m := r.lock()
	st, flags := r.cells.State.Load(), r.cells.Flags
	m.Unlock()
	s := reentState{
		Read:     r.Read(),
		Zero:     r.IsZero(),
		Dying:    r.IsDying(),
		Percpu:   r.IsPercpu(),
		Exited:   st&stExited != 0,
		Poisoned: st&stPoisoned != 0,
		Sticky:   flags&optSticky != 0,
		Freed:    flags&optFreed != 0,
	}
	done := r.Done()
	s.DoneClosed = semClosed(done)
	if !s.Exited { // after Exit, TryGetLive is a misuse (reported)
		if s.Live = r.TryGetLive(); s.Live && r.Put() {
			panic("the Put of TryGetLive's reference released")
		}
	}
	return s, done
}

// reentOpts is an option set of the misuse matrix.
type reentOpts struct {
	name   string
	opts   []Option
	atomic bool // InitAtomic
	dead   bool // InitDead (made live with Reinit, but for the never-live sites)
	keep   bool // the cells are kept at a switch to atomic (AllowReinit, or implied)
}

var reentOptSets = []reentOpts{
	{name: "eager", opts: []Option{Eager()}},
	{name: "lazy"},
	{name: "shards", opts: []Option{WithShards(4)}},
	{name: "initatomic", opts: []Option{InitAtomic()}, atomic: true, keep: true},
	{name: "allowreinit", opts: []Option{AllowReinit()}, keep: true},
	{name: "initdead", opts: []Option{InitDead()}, dead: true, keep: true},
}

// reentModel is the Ref as the contract describes it: its observable state,
// how many times release has run, and what the checks need besides.
type reentModel struct {
	s         reentState
	o         reentOpts
	releases  int
	cause     error // the poisoning's cause, as a control operation reports it
	freshDead bool  // made with InitDead and never made live
	newDone   bool  // the operation started a life with a new Done channel
}

func (m *reentModel) fix() { // TryGetLive succeeds exactly on a live Ref
	s := &m.s
	s.Live = !s.Exited && !s.Dying && !s.Poisoned && !s.Zero
}

// The whole effect of each control operation, from its doc comment.

// release: the count reached zero; release runs, once, and Done is closed
// when it returns.
func (m *reentModel) release() {
	m.s.Zero, m.s.DoneClosed = true, true
	m.releases++
}

// drop: Kill drops the initial reference; if that was the last, release
// runs inside Kill.
func (m *reentModel) drop() {
	if m.s.Read--; m.s.Read == 0 {
		m.release()
	}
}

// kill: KillAndConfirm marks the Ref dying, switches it to atomic mode
// (which gives the cells back without AllowReinit), calls confirm and drops
// the initial reference.
func (m *reentModel) kill() {
	m.s.Dying, m.s.Percpu = true, false
	m.s.Freed = m.s.Freed || !m.o.keep
	m.drop()
}

// switchAtomic: SwitchToAtomic switches to atomic mode and makes it sticky,
// then calls confirm; on a Ref already atomic (dying, released) only the
// stickiness changes.
func (m *reentModel) switchAtomic() {
	m.s.Percpu, m.s.Sticky = false, true
	m.s.Freed = m.s.Freed || !m.o.keep
}

// switchPercpu: SwitchToPercpu clears the stickiness; a live Ref with a
// count goes back to per-CPU mode, a dying one or one at zero stays atomic.
func (m *reentModel) switchPercpu() {
	m.s.Sticky = false
	if !m.s.Dying && !m.s.Zero && !m.s.Poisoned {
		m.s.Percpu = true
	}
}

// resurrect: Resurrect makes a dying Ref live again, restoring the initial
// reference, per-CPU unless sticky atomic.
func (m *reentModel) resurrect() {
	m.s.Dying = false
	m.s.Read++
	m.s.Percpu = !m.s.Sticky
}

// reinit: Reinit starts a new life with a count of 1, per-CPU unless sticky
// atomic, and a new Done channel; the Done channel of an InitDead Ref never
// made live is the first life's (nothing was released before it), and stays.
func (m *reentModel) reinit() {
	m.s.Read = 1
	m.s.Zero, m.s.Dying, m.s.Poisoned, m.s.DoneClosed = false, false, false, false
	m.s.Percpu = !m.s.Sticky
	m.newDone = !m.freshDead
	m.freshDead, m.cause = false, nil
}

// init: Init sets the Ref up as New does with the same options: a new life,
// a new Done channel.
func (m *reentModel) init() {
	o := m.o
	m.s = reentState{Read: 1, Percpu: !o.atomic && !o.dead, Sticky: o.atomic}
	if o.dead {
		m.s.Read, m.s.Zero, m.s.Dying = 0, true, true
	}
	m.newDone, m.freshDead, m.cause = true, o.dead, nil
}

// exit: Exit folds the cells into the count and gives them back; the count
// stays as it is, and the Ref takes no more operations. A second Exit does
// nothing.
func (m *reentModel) exit() {
	m.s.Exited, m.s.Percpu, m.s.Freed = true, false, true
}

// end: the test drops the references it holds and kills a live Ref; the
// life ends with its release. A released, poisoned, exited or never-live
// Ref takes neither.
func (m *reentModel) end() {
	s := &m.s
	if s.Exited || s.Poisoned || s.Zero {
		return
	}
	if !s.Dying {
		s.Dying, s.Percpu = true, false
		s.Freed = s.Freed || !m.o.keep
	}
	s.Read = 0
	m.release()
}

// reentWant is what a control operation must do: make the one report err
// (with Count, or Poisoned) and change nothing, or (err nil) have effect.
type reentWant struct {
	err      error
	count    int64
	poisoned bool
	effect   func(*reentModel)
}

// rep: reported with the count the operation found (Read's, at the call).
func reentRep(m *reentModel, err error) reentWant { return reentWant{err: err, count: m.s.Read} }

// poisonedRep: reported on a poisoned count, with the poisoning's cause.
func reentPoisoned(m *reentModel) reentWant { return reentWant{err: m.cause, poisoned: true} }

func reentWhole(effect func(*reentModel)) reentWant { return reentWant{effect: effect} }

// The kinds of control operation: Kill and KillAndConfirm are one kind, as
// are SwitchToAtomic and SwitchToAtomicSync.
const (
	kInit = iota
	kKill
	kSwitchToAtomic
	kSwitchToPercpu
	kResurrect
	kReinit
	kExit
	reentKinds
)

var reentKindNames = [reentKinds]string{"Init", "Kill", "SwitchToAtomic", "SwitchToPercpu", "Resurrect", "Reinit", "Exit"}

type reentRow struct {
	kind    int
	classes []reentClass
	want    func(m *reentModel) reentWant
}

func reentIn(c ...reentClass) []reentClass { return c }

// reentTable: for each kind of control operation and each state, what the
// operation does: from any callback, as from anywhere else. Every (kind,
// class) pair appears exactly once (TestReentTableIsComplete).
var reentTable = []reentRow{
	// Init: on a Ref that is not released and not exited, ErrLive (it would
	// drop the references its holders still count on), or, if it leaks
	// (poisoned while references may be held), the poisoning's cause. A Ref whose release
	// has begun (from release too, as Reinit may be called there), a
	// released Ref misused since, an InitDead Ref never made live (nothing
	// is held) and an exited Ref start a new life.
	{kInit, reentIn(live, dying),
		func(m *reentModel) reentWant { return reentRep(m, ErrLive) }},
	{kInit, reentIn(leaking), func(m *reentModel) reentWant { return reentPoisoned(m) }},
	{kInit, reentIn(released, releasedPoisoned, neverLive, exited),
		func(*reentModel) reentWant { return reentWhole((*reentModel).init) }},

	// Kill: whole on a live Ref: it drops the initial reference, and
	// releases there if that was the last. On a dying Ref ErrKilled (inside
	// Kill's own confirm too: that Kill has begun, and drops the initial
	// reference itself); on a released Ref that is not dying ErrReleased, on
	// a poisoned one the poisoning's cause.
	{kKill, reentIn(live), func(*reentModel) reentWant { return reentWhole((*reentModel).kill) }},
	{kKill, reentIn(dying, neverLive), func(m *reentModel) reentWant { return reentRep(m, ErrKilled) }},
	{kKill, reentIn(released, releasedPoisoned, leaking), func(m *reentModel) reentWant {
		switch {
		case m.s.Dying:
			return reentRep(m, ErrKilled)
		case m.s.Poisoned:
			return reentPoisoned(m)
		}
		return reentRep(m, ErrReleased)
	}},
	{kKill, reentIn(exited), func(m *reentModel) reentWant { return reentRep(m, ErrExited) }},

	// SwitchToAtomic: whole in every state but a poisoned count (reported
	// with the cause) and after Exit; on a dying, released or never-live
	// Ref, already atomic, it only makes atomic mode sticky.
	{kSwitchToAtomic, reentIn(live, dying, released, neverLive), func(m *reentModel) reentWant {
		if m.s.Poisoned {
			return reentPoisoned(m)
		}
		return reentWhole((*reentModel).switchAtomic)
	}},
	{kSwitchToAtomic, reentIn(releasedPoisoned, leaking),
		func(m *reentModel) reentWant { return reentPoisoned(m) }},
	{kSwitchToAtomic, reentIn(exited), func(m *reentModel) reentWant { return reentRep(m, ErrExited) }},

	// SwitchToPercpu: on a poisoned count, the cause; once the cells were
	// given back, ErrNoReinit in every state (even where it would only
	// clear the stickiness); otherwise whole.
	{kSwitchToPercpu, reentIn(live, dying, released, neverLive), func(m *reentModel) reentWant {
		switch {
		case m.s.Poisoned:
			return reentPoisoned(m)
		case m.s.Freed:
			return reentRep(m, ErrNoReinit)
		}
		return reentWhole((*reentModel).switchPercpu)
	}},
	{kSwitchToPercpu, reentIn(releasedPoisoned, leaking),
		func(m *reentModel) reentWant { return reentPoisoned(m) }},
	{kSwitchToPercpu, reentIn(exited), func(m *reentModel) reentWant { return reentRep(m, ErrExited) }},

	// Resurrect: whole on a dying Ref whose count is above zero, from
	// Kill's own confirm too (that Kill then drops the reference Resurrect
	// restored: the Ref ends live with the count it had before Kill, and
	// nothing is released), unless it would go back to per-CPU mode after
	// the cells were given back (ErrNoReinit). On a live Ref ErrLive; after
	// release ErrReleased; on an InitDead Ref never made live ErrNeverLive;
	// on a poisoned count the cause.
	{kResurrect, reentIn(dying), func(m *reentModel) reentWant {
		if m.s.Freed && !m.s.Sticky {
			return reentRep(m, ErrNoReinit)
		}
		return reentWhole((*reentModel).resurrect)
	}},
	{kResurrect, reentIn(live), func(m *reentModel) reentWant { return reentRep(m, ErrLive) }},
	{kResurrect, reentIn(released), func(m *reentModel) reentWant { return reentRep(m, ErrReleased) }},
	{kResurrect, reentIn(releasedPoisoned, leaking), func(m *reentModel) reentWant { return reentPoisoned(m) }},
	{kResurrect, reentIn(neverLive), func(m *reentModel) reentWant {
		if m.s.Poisoned {
			return reentPoisoned(m)
		}
		return reentRep(m, ErrNeverLive)
	}},
	{kResurrect, reentIn(exited), func(m *reentModel) reentWant { return reentRep(m, ErrExited) }},

	// Reinit: a new life once release has begun (from release too, and
	// after misuse of the released Ref), or on an InitDead Ref never made
	// live; going back to per-CPU mode after the cells were given back is
	// ErrNoReinit, in every state; while references are held (inside Kill's
	// confirm the initial one still is), ErrNotZero; on a count poisoned
	// while references may be held, the cause.
	{kReinit, reentIn(live, dying), func(m *reentModel) reentWant {
		if m.s.Freed && !m.s.Sticky {
			return reentRep(m, ErrNoReinit)
		}
		return reentRep(m, ErrNotZero)
	}},
	{kReinit, reentIn(released, releasedPoisoned, neverLive), func(m *reentModel) reentWant {
		if m.s.Freed && !m.s.Sticky {
			return reentRep(m, ErrNoReinit)
		}
		return reentWhole((*reentModel).reinit)
	}},
	{kReinit, reentIn(leaking), func(m *reentModel) reentWant { return reentPoisoned(m) }},
	{kReinit, reentIn(exited), func(m *reentModel) reentWant { return reentRep(m, ErrExited) }},

	// Exit: whole in every state (inside Kill's confirm, that Kill still
	// drops the initial reference afterwards: the result is that of Kill,
	// then Exit); a second Exit does nothing.
	{kExit, reentIn(live, dying, released, releasedPoisoned, leaking, neverLive),
		func(*reentModel) reentWant { return reentWhole((*reentModel).exit) }},
	{kExit, reentIn(exited), func(*reentModel) reentWant { return reentWhole(func(*reentModel) {}) }},
}

func reentLookup(kind int, c reentClass) (rows []reentRow) {
	for _, row := range reentTable {
		for _, rc := range row.classes {
			if row.kind == kind && rc == c {
				rows = append(rows, row)
			}
		}
	}
	return rows
}

// A reentOp is a control operation, with the Op its reports name.
type reentOp struct {
	name, op string
	kind     int
	confirm  bool // takes a confirm, which runs iff the operation happens whole
	do       func(r *Ref, c *reentCase)
}

// reentOps are the nine control operations, and KillAll of one Ref, which
// is Kill.
var reentOps = []reentOp{
	{"Init", "Init", kInit, false, func(r *Ref, c *reentCase) { r.Init(c.rel, c.opts()...) }},
	{"Kill", "Kill", kKill, false, func(r *Ref, _ *reentCase) { r.Kill() }},
	{"KillAndConfirm", "Kill", kKill, true, func(r *Ref, c *reentCase) { r.KillAndConfirm(c.opConfirm) }},
	{"KillAll", "Kill", kKill, false, func(r *Ref, _ *reentCase) { KillAll(r) }},
	{"SwitchToAtomic", "SwitchToAtomic", kSwitchToAtomic, true, func(r *Ref, c *reentCase) { r.SwitchToAtomic(c.opConfirm) }},
	{"SwitchToAtomicSync", "SwitchToAtomic", kSwitchToAtomic, false, func(r *Ref, _ *reentCase) { r.SwitchToAtomicSync() }},
	{"SwitchToPercpu", "SwitchToPercpu", kSwitchToPercpu, false, func(r *Ref, _ *reentCase) { r.SwitchToPercpu() }},
	{"Resurrect", "Resurrect", kResurrect, false, func(r *Ref, _ *reentCase) { r.Resurrect() }},
	{"Reinit", "Reinit", kReinit, false, func(r *Ref, _ *reentCase) { r.Reinit() }},
	{"Exit", "Exit", kExit, false, func(r *Ref, _ *reentCase) { r.Exit() }},
}

type reentVia int

const (
	viaConfirm reentVia = iota // the callback is the confirm the site passes
	viaRelease                 // the callback is release (its first call)
	viaHandler                 // the callback is the handler (its first report)
)

// A reentSite reaches a class of state, in a callback, for an option set.
type reentSite struct {
	name  string
	class reentClass
	via   reentVia
	h     int                    // references the test holds when the callback runs
	dead  bool                   // needs an InitDead Ref never made live: option set initdead only
	only  func(o reentOpts) bool // if set, the option sets the site applies to
	at    func(o reentOpts) reentModel
	run   func(r *Ref, c *reentCase) // the steps that lead to the callback
	trig  func(c *reentCase) *MisuseError
	after func(m *reentModel) // what the outer operation does once the callback returns
}

// The state at the callback, per site: the model the table starts from.

// Inside KillAndConfirm's confirm, with h references held besides the
// initial one (which Kill has yet to drop).
func atKillConfirm(h int) func(o reentOpts) reentModel {
	return func(o reentOpts) reentModel {
		return reentModel{s: reentState{Read: 1 + int64(h), Dying: true, Sticky: o.atomic, Freed: !o.keep}}
	}
}

// Live and atomic, inside SwitchToAtomic's confirm.
func atSwitchConfirm(h int) func(o reentOpts) reentModel {
	return func(o reentOpts) reentModel {
		return reentModel{s: reentState{Read: 1 + int64(h), Sticky: true, Freed: !o.keep}}
	}
}

// Live, as the option set makes it.
func atLive(h int) func(o reentOpts) reentModel {
	return func(o reentOpts) reentModel {
		return reentModel{s: reentState{Read: 1 + int64(h), Percpu: !o.atomic, Sticky: o.atomic}}
	}
}

// Killed, one reference held; sticky if SwitchToAtomic came after Kill.
func atDying(sticky bool) func(o reentOpts) reentModel {
	return func(o reentOpts) reentModel {
		return reentModel{s: reentState{Read: 1, Dying: true, Sticky: o.atomic || sticky, Freed: !o.keep}}
	}
}

// Released after Kill (or, not dying, by the last Put in atomic mode); Done
// is closed once release has returned.
func atReleased(dying, returned, sticky bool) func(o reentOpts) reentModel {
	return func(o reentOpts) reentModel {
		return reentModel{s: reentState{Zero: true, Dying: dying, DoneClosed: returned,
			Sticky: o.atomic || sticky, Freed: !o.keep}, releases: 1}
	}
}

func atReleasedPoisoned(o reentOpts) reentModel {
	return reentModel{s: reentState{Zero: true, Dying: true, Poisoned: true, DoneClosed: true, Sticky: o.atomic, Freed: !o.keep},
		releases: 1, cause: ErrReleased}
}

func atUnderflow(o reentOpts) reentModel {
	if o.atomic { // found at the PutMany itself
		return reentModel{s: reentState{Read: MaxCount, Poisoned: true, Sticky: true}, cause: ErrUnderflow}
	}
	return reentModel{s: reentState{Read: MaxCount, Poisoned: true, Dying: true, Freed: !o.keep}, cause: ErrUnderflow}
}

func atSaturated(o reentOpts) reentModel {
	return reentModel{s: reentState{Read: MaxCount, Poisoned: true, Sticky: true, Freed: !o.keep}, cause: ErrSaturated}
}

func atNeverLive(poisoned, sticky bool) func(o reentOpts) reentModel {
	return func(reentOpts) reentModel {
		m := reentModel{s: reentState{Zero: true, Dying: true, Poisoned: poisoned, Sticky: sticky}, freshDead: true}
		if poisoned {
			m.cause = ErrNeverLive
		}
		return m
	}
}

func atExited(o reentOpts) reentModel {
	return reentModel{s: reentState{Read: 1, Exited: true, Sticky: o.atomic, Freed: true}}
}

// reentReport is the report a handler site handles.
func reentReport(op string, count int64, err error) func(*reentCase) *MisuseError {
	return func(*reentCase) *MisuseError { return &MisuseError{Op: op, Count: count, Err: err} }
}

// A Lazy Ref without cells counts on the central count in per-CPU mode; an
// operation that takes it out of the per-CPU range (protocol.go, "The
// ranges of C") folds the Ref to atomic mode and poisons it, not dying and
// not sticky. White-box: the count starts at the edge of the range.
func atPercpuOutOfRange(cause error) func(o reentOpts) reentModel {
	return func(o reentOpts) reentModel {
		return reentModel{s: reentState{Read: MaxCount, Poisoned: true, Freed: !o.keep}, cause: cause}
	}
}

func lazyOnly(o reentOpts) bool { return o.name == "lazy" }

var reentSites = []reentSite{
	// confirm
	{name: "kill-confirm/held0", class: dying, via: viaConfirm, at: atKillConfirm(0),
		run:   func(r *Ref, c *reentCase) { r.KillAndConfirm(c.callback) },
		after: (*reentModel).drop},
	{name: "kill-confirm/held1", class: dying, via: viaConfirm, h: 1, at: atKillConfirm(1),
		run:   func(r *Ref, c *reentCase) { c.get(r); r.KillAndConfirm(c.callback) },
		after: (*reentModel).drop},
	{name: "switch-confirm/held0", class: live, via: viaConfirm, at: atSwitchConfirm(0),
		run: func(r *Ref, c *reentCase) { r.SwitchToAtomic(c.callback) }},
	{name: "switch-confirm/held1", class: live, via: viaConfirm, h: 1, at: atSwitchConfirm(1),
		run: func(r *Ref, c *reentCase) { c.get(r); r.SwitchToAtomic(c.callback) }},
	{name: "switch-confirm-after-kill/held1", class: dying, via: viaConfirm, h: 1, at: atDying(true),
		run: func(r *Ref, c *reentCase) { c.get(r); r.Kill(); r.SwitchToAtomic(c.callback) }},
	{name: "switch-confirm-after-release", class: released, via: viaConfirm, at: atReleased(true, true, true),
		run: func(r *Ref, c *reentCase) { r.Kill(); r.SwitchToAtomic(c.callback) }},
	{name: "switch-confirm-never-live", class: neverLive, via: viaConfirm, dead: true, at: atNeverLive(false, true),
		run: func(r *Ref, c *reentCase) { r.SwitchToAtomic(c.callback) }},

	// release
	{name: "release/by-kill", class: released, via: viaRelease, at: atReleased(true, false, false),
		run: func(r *Ref, _ *reentCase) { r.Kill() }},
	{name: "release/by-put-after-kill", class: released, via: viaRelease, at: atReleased(true, false, false),
		run: func(r *Ref, c *reentCase) { c.get(r); r.Kill(); c.put(r) }},
	{name: "release/by-put-atomic", class: released, via: viaRelease, at: atReleased(false, false, true),
		run: func(r *Ref, _ *reentCase) { r.SwitchToAtomicSync(); r.Put() }},

	// a misuse handler, handling a report
	{name: "handler/bad-delta", class: live, via: viaHandler, h: 1, at: atLive(1),
		run:  func(r *Ref, c *reentCase) { c.get(r); r.GetMany(0) },
		trig: reentReport("GetMany", 0, ErrBadDelta)},
	{name: "handler/reinit-held", class: live, via: viaHandler, h: 1, at: atLive(1),
		run:  func(r *Ref, c *reentCase) { c.get(r); r.Reinit() },
		trig: reentReport("Reinit", 2, ErrNotZero)},
	{name: "handler/init-live", class: live, via: viaHandler, at: atLive(0),
		run:  func(r *Ref, c *reentCase) { r.Init(c.rel, c.opts()...) },
		trig: reentReport("Init", 1, ErrLive)},
	{name: "handler/second-kill", class: dying, via: viaHandler, h: 1, at: atDying(false),
		run:  func(r *Ref, c *reentCase) { c.get(r); r.Kill(); r.Kill() },
		trig: reentReport("Kill", 1, ErrKilled)},
	{name: "handler/kill-after-release", class: released, via: viaHandler, at: atReleased(true, true, false),
		run:  func(r *Ref, _ *reentCase) { r.Kill(); r.Kill() },
		trig: reentReport("Kill", 0, ErrKilled)},
	{name: "handler/kill-after-atomic-release", class: released, via: viaHandler, at: atReleased(false, true, true),
		run:  func(r *Ref, _ *reentCase) { r.SwitchToAtomicSync(); r.Put(); r.Kill() },
		trig: reentReport("Kill", 0, ErrReleased)},
	{name: "handler/put-after-release", class: releasedPoisoned, via: viaHandler, at: atReleasedPoisoned,
		run:  func(r *Ref, _ *reentCase) { r.Kill(); r.Put() },
		trig: reentReport("Put", 0, ErrUnderflow)},
	{name: "handler/get-after-release", class: releasedPoisoned, via: viaHandler, at: atReleasedPoisoned,
		run:  func(r *Ref, _ *reentCase) { r.Kill(); r.Get() },
		trig: reentReport("Get", 0, ErrReleased)},
	{name: "handler/underflow", class: leaking, via: viaHandler, at: atUnderflow,
		run: func(r *Ref, c *reentCase) {
			r.PutMany(2)
			if !c.o.atomic { // per-CPU: found at the fold; Kill's confirm still runs
				r.KillAndConfirm(func() { c.trigConfirms++ })
			}
		},
		trig: func(c *reentCase) *MisuseError {
			if c.o.atomic {
				return &MisuseError{Op: "PutMany", Count: 1, Err: ErrUnderflow}
			}
			return &MisuseError{Op: "Kill", Count: -1, Err: ErrUnderflow}
		}},
	{name: "handler/saturated", class: leaking, via: viaHandler, at: atSaturated,
		run: func(r *Ref, _ *reentCase) {
			r.SwitchToAtomicSync()
			r.count.Store(MaxCount) // white-box, as misuse_test.go's saturation rows
			r.Get()
		},
		trig: reentReport("Get", MaxCount, ErrSaturated)},
	{name: "handler/lazy-percpu-underflow", class: leaking, via: viaHandler, only: lazyOnly,
		at: atPercpuOutOfRange(ErrUnderflow),
		run: func(r *Ref, c *reentCase) {
			r.count.Store(percpuLow + 2) // as after 2^59 - 2 Puts more than Gets
			for k := int64(1); k <= 4 && !c.ran; k++ {
				r.PutMany(3)
				c.trigCount = percpuLow + 2 - 3*k - bias // the folded count
			}
		},
		trig: func(c *reentCase) *MisuseError {
			return &MisuseError{Op: "PutMany", Count: c.trigCount, Err: ErrUnderflow}
		}},
	{name: "handler/lazy-percpu-saturated", class: leaking, via: viaHandler, only: lazyOnly,
		at: atPercpuOutOfRange(ErrSaturated),
		run: func(r *Ref, _ *reentCase) {
			r.count.Store(percpuHigh - 1)
			r.GetMany(2)
		},
		trig: reentReport("GetMany", percpuHigh+1-bias, ErrSaturated)},
	{name: "handler/get-never-live", class: neverLive, via: viaHandler, dead: true, at: atNeverLive(true, false),
		run:  func(r *Ref, _ *reentCase) { r.Get() },
		trig: reentReport("Get", 0, ErrNeverLive)},
	{name: "handler/resurrect-never-live", class: neverLive, via: viaHandler, dead: true, at: atNeverLive(false, false),
		run:  func(r *Ref, _ *reentCase) { r.Resurrect() },
		trig: reentReport("Resurrect", 0, ErrNeverLive)},
	{name: "handler/after-exit", class: exited, via: viaHandler, at: atExited,
		run:  func(r *Ref, _ *reentCase) { r.Exit(); r.Get() },
		trig: reentReport("Get", 1, ErrExited)},
}

// reentHandler is where a report goes.
type reentHandler int

const (
	withHandler    reentHandler = iota // WithMisuseHandler
	processHandler                     // SetMisuseHandler
	panics                             // neither: the report is a panic
	reentHandlers
)

var reentHandlerNames = [reentHandlers]string{"WithMisuseHandler", "SetMisuseHandler", "panic"}

// reentCase is one run: what the callbacks record, for the checks.
type reentCase struct {
	o       reentOpts
	site    reentSite
	op      reentOp
	handler reentHandler

	r   *Ref
	log semLog

	releases     atomic.Int32
	held         atomic.Int32 // references the test holds
	heldAtRel    atomic.Int32 // release calls made while the test held a reference
	ran          bool         // the callback has run the operation
	opConfirms   int          // calls of the confirm passed to the operation
	trigConfirms int          // calls of the confirm of the underflow site's Kill
	trigCount    int64        // the count the handled report names, where the site works it out

	before, after         reentState
	beforeDone, afterDone <-chan struct{}
	reportsBefore         int     // reports made before the operation
	during                []error // reports made by the operation
	relAfterOp            int

	outer     reentState // once the outer operation has returned
	outerDone <-chan struct{}
	reportsAt int // reports made by then
	relOuter  int // release calls made by then

	fin        reentState // after the test's references are dropped and a live Ref killed
	relFin     int
	reportsFin int
	panicked   string       // the panic the case ended in, and its stack
	outerPanic *MisuseError // the report that panicked out of the outer operation (panics)
}

func (c *reentCase) rel() {
	c.releases.Add(1)
	if c.held.Load() > 0 {
		c.heldAtRel.Add(1)
	}
	if c.site.via == viaRelease {
		c.callback()
	}
}

func (c *reentCase) handle(err error) {
	c.log.handle(err)
	if c.site.via == viaHandler {
		c.callback()
	}
}

func (c *reentCase) opConfirm() { c.opConfirms++ }

func (c *reentCase) get(r *Ref) { r.Get(); c.held.Add(1) }

func (c *reentCase) put(r *Ref) bool { c.held.Add(-1); return r.Put() }

func (c *reentCase) opts() []Option {
	opts := append([]Option(nil), c.o.opts...)
	if c.handler == withHandler {
		opts = append(opts, WithMisuseHandler(c.handle))
	}
	return opts
}

// callback runs the operation, the first time only: a report the operation
// makes comes back to the handler, which then only records it.
func (c *reentCase) callback() {
	if c.ran {
		return
	}
	c.ran = true
	c.before, c.beforeDone = reentSnapshot(c.r)
	c.reportsBefore = len(c.log.all())
	defer func() {
		c.during = c.log.all()[c.reportsBefore:]
		c.relAfterOp = int(c.releases.Load())
		c.after, c.afterDone = reentSnapshot(c.r)
	}()
	defer func() {
		// Without a handler, the report is a panic: record it, and let it
		// go on through the outer operation, as it would.
		if p := recover(); p != nil {
			if e, ok := p.(*MisuseError); ok {
				c.log.handle(e)
			}
			panic(p)
		}
	}()
	c.op.do(c.r, c)
}

// play runs the case: the Ref, the steps to the callback, then the end of
// every life the test can end.
func (c *reentCase) play() {
	defer func() {
		if p := recover(); p != nil {
			c.panicked = fmt.Sprintf("%v\n%s", p, debug.Stack())
		}
	}()
	if c.handler == processHandler {
		SetMisuseHandler(c.handle)
		defer SetMisuseHandler(nil)
	}
	c.r = New(c.rel, c.opts()...)
	if c.o.dead && !c.site.dead {
		c.r.Reinit() // made live
	}
	func() {
		defer func() {
			if p := recover(); p != nil {
				e, ok := p.(*MisuseError)
				if !ok || c.handler != panics {
					panic(p)
				}
				c.outerPanic = e
			}
		}()
		c.site.run(c.r, c)
	}()
	c.outer, c.outerDone = reentSnapshot(c.r)
	c.reportsAt = len(c.log.all())
	c.relOuter = int(c.releases.Load())

	// The end: drop the references the test holds, and kill a live Ref. A
	// poisoned or exited Ref takes neither (each would be reported).
	if s := c.outer; !s.Exited && !s.Poisoned {
		for c.held.Load() > 0 {
			c.put(c.r)
		}
		if s, _ := reentSnapshot(c.r); s.Live {
			c.r.Kill()
		}
	}
	c.fin, _ = reentSnapshot(c.r)
	c.relFin = int(c.releases.Load())
	c.reportsFin = len(c.log.all())
}

const reentTimeout = 10 * time.Second

// reentStuck is set once a case has deadlocked: its goroutine may hold a
// lock stripe, so the cases after it are not run.
var reentStuck atomic.Bool

// Every (kind of operation, class of state) pair has exactly one row, and
// every class is reached by some site.
func TestReentTableIsComplete(t *testing.T) {
	for k := 0; k < reentKinds; k++ {
		for c := reentClass(0); c < reentClasses; c++ {
			assert.Len(t, reentLookup(k, c), 1, "%s from %s", reentKindNames[k], reentClassNames[c])
		}
	}
	reached := map[reentClass]bool{}
	for _, s := range reentSites {
		reached[s.class] = true
	}
	for c := reentClass(0); c < reentClasses; c++ {
		assert.True(t, reached[c], "no site reaches %s", reentClassNames[c])
	}
}

// TestMisuseReentrant runs every case: every site (each callback, in each
// state it can see), every option set, every control operation, each kind of
// handler.
func TestMisuseReentrant(t *testing.T) {
	n := 0
	for _, site := range reentSites {
		for _, o := range reentOptSets {
			if site.dead && !o.dead || site.only != nil && !site.only(o) {
				continue
			}
			for _, op := range reentOps {
				for h := range reentHandlers {
					if h == panics && site.via == viaHandler {
						continue // the callback is a handler
					}
					n++
					name := fmt.Sprintf("%s/%s/%s/%s", site.name, o.name, op.name, reentHandlerNames[h])
					t.Run(name, func(t *testing.T) {
						reentRun(t, &reentCase{o: o, site: site, op: op, handler: h})
					})
				}
			}
		}
	}
	t.Logf("%d cases", n)
}

func reentRun(t *testing.T, c *reentCase) {
	if reentStuck.Load() {
		t.Fatal("not run: an earlier case deadlocked")
	}
	finished := make(chan struct{})
	go func() { defer close(finished); c.play() }()
	select {
	case <-finished:
	case <-time.After(reentTimeout):
		reentStuck.Store(true)
		buf := make([]byte, 1<<20)
		t.Fatalf("deadlock: the case did not finish in %v\n%s", reentTimeout, buf[:runtime.Stack(buf, true)])
	}
	require.Empty(t, c.panicked, "the case panicked")
	require.True(t, c.ran, "the callback never ran")

	site, op := c.site, c.op
	m := site.at(c.o)
	m.o = c.o
	m.fix()
	assert.Equal(t, m.s, c.before, "the state at the callback is not the class's")

	// The report being handled (handler sites), and no other before the
	// operation.
	logs := c.log.all()
	if site.via == viaHandler {
		require.Equal(t, 1, c.reportsBefore, "reports before the operation: %v", logs)
		var got *MisuseError
		require.ErrorAs(t, logs[0], &got)
		assert.Equal(t, site.trig(c), got, "the handled report")
	} else {
		require.Equal(t, 0, c.reportsBefore, "reports before the operation: %v", logs)
	}

	// The operation: one report and no change, or its whole effect.
	rows := reentLookup(op.kind, site.class)
	require.Len(t, rows, 1)
	want := rows[0].want(&m)
	if want.err != nil {
		require.Len(t, c.during, 1, "the operation must be reported once: %v", c.during)
		var got *MisuseError
		require.ErrorAs(t, c.during[0], &got)
		assert.ErrorIs(t, got, want.err)
		assert.Equal(t, op.op, got.Op)
		assert.Equal(t, want.poisoned, got.Poisoned, "Poisoned")
		if !want.poisoned {
			assert.Equal(t, want.count, got.Count, "Count: the count the operation found")
		}
		assert.Equal(t, c.before, c.after, "a reported operation changed the Ref")
		assert.Equal(t, c.beforeDone, c.afterDone, "a reported operation changed Done")
		assert.Equal(t, 0, c.opConfirms, "a reported operation ran its confirm")
		assert.Equal(t, m.releases, c.relAfterOp, "a reported operation ran release")
	} else {
		assert.Empty(t, c.during, "an operation that happens whole is not reported")
		want.effect(&m)
		m.fix()
		assert.Equal(t, m.s, c.after, "the operation's whole effect")
		if m.newDone {
			assert.NotEqual(t, c.beforeDone, c.afterDone, "a new life has a new Done channel")
		} else {
			assert.Equal(t, c.beforeDone, c.afterDone, "the same life keeps its Done channel")
		}
		if op.confirm {
			assert.Equal(t, 1, c.opConfirms, "the confirm of an operation that happens whole runs once")
		}
		assert.Equal(t, m.releases, c.relAfterOp, "release calls when the operation returned")
	}

	// The rest of the outer operation. Without a handler, a reported
	// operation panics out of the callback and out of the outer operation:
	// a Kill still drops the initial reference, as the panic unwinds; a
	// release did not return, so its life's Done stays open.
	reportPanicked := c.handler == panics && want.err != nil
	if reportPanicked {
		require.NotNil(t, c.outerPanic, "the report did not panic out of the outer operation")
		assert.Same(t, c.during[0], error(c.outerPanic), "the panic is the report")
	} else {
		assert.Nil(t, c.outerPanic, "a panic out of the outer operation")
	}
	if site.after != nil {
		site.after(&m)
	}
	if site.via == viaRelease {
		released := !reportPanicked
		assert.Equal(t, released, semClosed(c.beforeDone), "the released life's Done is closed iff release returned")
		if released && !m.newDone {
			m.s.DoneClosed = true
		}
	}
	m.fix()
	assert.Equal(t, m.s, c.outer, "the state once the outer operation returned")
	assert.Equal(t, c.afterDone, c.outerDone, "Done changed after the operation")
	assert.Equal(t, c.reportsBefore+len(c.during), c.reportsAt, "reports after the operation: %v", c.log.all())
	assert.Equal(t, m.releases, c.relOuter, "release calls once the outer operation returned")
	if site.name == "handler/underflow" && !c.o.atomic {
		assert.Equal(t, 1, c.trigConfirms, "Kill's confirm runs once, after the handler")
	}

	// The end of the life that runs, if the test can end it: exactly one
	// more release, and never while the test held a reference.
	m.end()
	m.fix()
	assert.Equal(t, m.s, c.fin, "the state at the end")
	assert.Equal(t, m.releases, c.relFin, "release calls: one per life that ended")
	assert.Zero(t, c.heldAtRel.Load(), "release ran while the test held a reference")
	assert.Equal(t, c.reportsAt, c.reportsFin, "the end of the life was reported: %v", c.log.all())
}

// A Kill that has begun finishes even if its confirm panics: by default a
// misuse reported from confirm panics, and a recovered panic must not leave
// a dying Ref whose initial reference is never dropped (it could then never
// be released, and a second Kill is ErrKilled). The initial reference is
// dropped as the panic unwinds; release runs there if it was the last.
func TestMisuseReentrantKillConfirmPanics(t *testing.T) {
	for _, tc := range []struct {
		name    string
		confirm func(r *Ref)
		err     error // the *MisuseError the panic carries; nil: a plain panic
	}{
		{"misuse-Kill", func(r *Ref) { r.Kill() }, ErrKilled},
		{"misuse-Reinit", func(r *Ref) { r.Reinit() }, ErrNotZero},
		{"misuse-Init", func(r *Ref) { r.Init(nil) }, ErrLive},
		{"plain-panic", func(*Ref) { panic("confirm failed") }, nil},
	} {
		for _, held := range []int{0, 1} {
			t.Run(fmt.Sprintf("%s/held%d", tc.name, held), func(t *testing.T) {
				var rel semRel
				r := New(rel.fn(), AllowReinit())
				for range held {
					r.Get()
				}
				var p any
				func() {
					defer func() { p = recover() }()
					r.KillAndConfirm(func() { tc.confirm(r) })
				}()
				require.NotNil(t, p, "confirm panicked")
				if tc.err != nil {
					me, ok := p.(*MisuseError)
					require.True(t, ok, "%v", p)
					assert.ErrorIs(t, me, tc.err)
				}
				assert.True(t, r.IsDying())
				assert.Equal(t, int64(held), r.Read(), "Kill dropped the initial reference")
				assert.Equal(t, 1-held, rel.calls(), "release ran iff the initial reference was the last")
				assert.Equal(t, held == 0, semClosed(r.Done()))
				if held > 0 {
					assert.True(t, r.Put())
					assert.Equal(t, 1, rel.calls())
				}
				assert.Nil(t, semCatch(r.Reinit), "the life did not end: no new one")
				assert.Equal(t, int64(1), r.Read())
			})
		}
	}
}
