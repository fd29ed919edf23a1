package percpuref_test

// FuzzRefAgainstModel runs a sequence of operations, decoded from the fuzz
// input, on one goroutine against both a Ref and refModel, a small model of
// the contract (docs/semantics.md and the doc comments) written from it: an int, a few
// mode flags and no cells. Every return value, the count (exact with no
// concurrency), the predicates, Done, the release calls and every reported
// misuse (sentinel, Op and Count) are compared after each operation.
//
// Input layout: byte 0 chooses the options (see fuzzOptions), every later
// byte is an operation (see the fz* constants); the *Many operations take
// the following byte as an index into fuzzDeltas.

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/percpuref/percpu/percpuref"
)

const (
	fzGet = iota
	fzPut
	fzGetMany
	fzPutMany
	fzTryGet
	fzTryGetMany
	fzTryGetLive
	fzGetUnlessZero
	fzPutLocked
	fzKill
	fzKillAndConfirm
	fzSwitchToAtomic
	fzSwitchToAtomicSync
	fzSwitchToPercpu
	fzResurrect
	fzReinit
	fzExit
	fzRead
	fzIsZero
	fzIsDying
	fzIsPercpu
	fzKillAllTwice
	fzKillAsync
	fzNumOps
)

var fuzzOpNames = [fzNumOps]string{
	"Get", "Put", "GetMany", "PutMany", "TryGet", "TryGetMany", "TryGetLive",
	"GetUnlessZero", "PutLocked", "Kill", "KillAndConfirm", "SwitchToAtomic",
	"SwitchToAtomicSync", "SwitchToPercpu", "Resurrect", "Reinit", "Exit",
	"Read", "IsZero", "IsDying", "IsPercpu", "KillAllTwice",
	"KillAsync",
}

// maxDeltaPlusOne is MaxDelta+1: too large on 64-bit platforms, wrapped to
// a negative n on 32-bit ones, invalid either way.
func maxDeltaPlusOne() int {
	n := percpuref.MaxDelta
	n++
	return n
}

// fuzzDeltas are the n values the *Many operations take: valid ones and
// every kind of invalid one.
var fuzzDeltas = []int{
	1, 2, 3, 5, 64, 1000, percpuref.MaxDelta, // valid
	0, -1, -7, maxDeltaPlusOne(), math.MaxInt, math.MinInt, // invalid
}

// Option bits of byte 0.
const (
	fzOptAtomic      = 1 << iota // InitAtomic
	fzOptDead                    // InitDead
	fzOptAllowReinit             // AllowReinit
	fzOptReinitInRel             // release calls Reinit
	fzOptExitInRel               // release calls Exit (if not Reinit)
	fzOptShards0                 // with fzOptShards1: WithShards(1, 2, 4 or default)
	fzOptShards1
	fzOptLazy // Lazy
)

// wantErr is one misuse report the model allows: sentinel, Op and Count,
// or, on a poisoned count, the poisoning's cause and Poisoned.
type wantErr struct {
	err      error
	op       string
	count    int64
	poisoned bool // MisuseError.Poisoned; Count is then 0
}

func (w wantErr) String() string {
	c := fmt.Sprint(w.count)
	if w.poisoned {
		c = "poisoned"
	}
	return fmt.Sprintf("%s: %v (count %s)", w.op, w.err, c)
}

// refModel is the contract of docs/semantics.md for a Ref used from one
// goroutine.
type refModel struct {
	count       int64 // the logical count; meaningless once poisoned
	percpu      bool
	dying       bool
	sticky      bool // atomic until SwitchToPercpu
	allowReinit bool
	cellsFreed  bool
	exited      bool
	poisoned    bool // by misuse: every Get and Put is reported, the count never moves
	released    bool // release ran in this life (Done is closed)
	neverLive   bool // made with InitDead, not yet Reinit
	releases    int
	reinitInRel bool
	exitInRel   bool

	// alts are the misuse reports the current operation must make, in
	// order; a slot with several entries accepts any one of them.
	alts [][]wantErr
}

func newRefModel(opt byte) *refModel {
	m := &refModel{
		allowReinit: opt&(fzOptAtomic|fzOptDead|fzOptAllowReinit) != 0,
		reinitInRel: opt&fzOptReinitInRel != 0,
		exitInRel:   opt&fzOptExitInRel != 0 && opt&fzOptReinitInRel == 0,
		sticky:      opt&fzOptAtomic != 0,
	}
	switch {
	case opt&fzOptDead != 0:
		m.count, m.dying, m.neverLive = 0, true, true
	case opt&fzOptAtomic != 0:
		m.count = 1
	default:
		m.count, m.percpu = 1, true
	}
	return m
}

// misuse records a report the current operation must make; alternatives are
// other reports the specification allows instead (its precedence between
// two misuses that both change nothing is not fixed).
func (m *refModel) misuse(w wantErr, alternatives ...wantErr) {
	m.alts = append(m.alts, append([]wantErr{w}, alternatives...))
}

func (m *refModel) errAt(op string, err error) wantErr {
	return wantErr{err: err, op: op, count: m.read()}
}

// ended reports whether this life is over: released, or never begun.
func (m *refModel) ended() bool { return m.released || m.neverLive }

// zeroCause is why a Get on a count of zero is misuse.
func (m *refModel) zeroCause() error {
	if m.neverLive {
		return percpuref.ErrNeverLive
	}
	return percpuref.ErrReleased
}

// read is what Read returns.
func (m *refModel) read() int64 {
	switch {
	case !m.poisoned:
		return m.count
	case m.ended():
		return 0
	}
	return percpuref.MaxCount
}

// onPoisoned is the report of a Get (get) or Put on the poisoned count.
func (m *refModel) onPoisoned(op string, get bool) wantErr {
	err := percpuref.ErrUnderflow
	if m.ended() && get {
		err = m.zeroCause()
	}
	return wantErr{err: err, op: op, poisoned: true}
}

// onEnded is the report of a control operation that needs a live count, on
// a Ref whose life ended or whose count was poisoned.
func (m *refModel) onEnded(op string) wantErr {
	switch {
	case !m.ended(): // poisoned by an underflow found at a switch
		return wantErr{err: percpuref.ErrUnderflow, op: op, poisoned: true}
	case m.poisoned:
		return wantErr{err: m.zeroCause(), op: op, poisoned: true}
	}
	return m.errAt(op, m.zeroCause())
}

func (m *refModel) poison() { m.poisoned = true }

func (m *refModel) release() {
	m.released = true
	m.releases++
	switch {
	case m.reinitInRel:
		m.reinit()
	case m.exitInRel:
		m.exit()
	}
}

func badDelta(n int) bool { return n <= 0 || n > percpuref.MaxDelta }

func (m *refModel) get(op string, n int, many bool) {
	if many && badDelta(n) {
		m.badDelta(op, n)
		return
	}
	if m.percpu {
		m.count += int64(n)
		return
	}
	if m.exited {
		m.misuse(m.errAt(op, percpuref.ErrExited))
		return
	}
	if m.poisoned {
		m.misuse(m.onPoisoned(op, true))
		return
	}
	if m.count <= 0 {
		m.misuse(m.errAt(op, m.zeroCause()))
		m.poison()
		return
	}
	m.count += int64(n)
}

func (m *refModel) badDelta(op string, n int) {
	w := wantErr{err: percpuref.ErrBadDelta, op: op, count: int64(n)} // Count is the rejected n
	if m.exited {
		m.misuse(w, m.errAt(op, percpuref.ErrExited))
		return
	}
	m.misuse(w)
}

// put returns what Put returns.
func (m *refModel) put(op string, n int, many bool) bool {
	if many && badDelta(n) {
		m.badDelta(op, n)
		return false
	}
	if m.percpu {
		m.count -= int64(n)
		return false
	}
	return m.putCentral(op, int64(n))
}

func (m *refModel) putCentral(op string, n int64) bool {
	if m.exited {
		m.misuse(m.errAt(op, percpuref.ErrExited))
		return false
	}
	if m.poisoned {
		m.misuse(m.onPoisoned(op, false))
		return false
	}
	if m.count < n {
		m.misuse(m.errAt(op, percpuref.ErrUnderflow))
		m.poison()
		return false
	}
	m.count -= n
	if m.count == 0 {
		m.release()
		return true
	}
	return false
}

// putLockedTakesLock reports whether PutLocked must take the lock: only
// when this may be the last reference, in atomic mode (not for a misuse on
// a released or poisoned count, which cannot release).
func (m *refModel) putLockedTakesLock() bool {
	return !m.percpu && !m.exited && !m.poisoned && m.count == 1
}

func (m *refModel) tryGet(op string, n int, many, live bool) bool {
	if many && badDelta(n) {
		m.badDelta(op, n)
		return false
	}
	if m.percpu {
		m.count += int64(n)
		return true
	}
	if m.exited {
		m.misuse(m.errAt(op, percpuref.ErrExited))
		return false
	}
	if live && m.dying {
		return false
	}
	if m.poisoned || m.count == 0 {
		return false // released, or never live
	}
	m.count += int64(n)
	return true
}

// toAtomic is the switch: the folded count must be above zero.
func (m *refModel) toAtomic(op string) {
	if !m.percpu {
		return
	}
	m.percpu = false
	if !m.allowReinit {
		m.cellsFreed = true
	}
	if m.count <= 0 {
		m.misuse(m.errAt(op, percpuref.ErrUnderflow))
		m.poison()
	}
}

// toPercpu is the way back: not after the cells were freed, not for a
// poisoned count nor at zero (which stays atomic until Reinit).
func (m *refModel) toPercpu(op string) {
	if m.cellsFreed {
		m.misuse(m.errAt(op, percpuref.ErrNoReinit))
		return
	}
	if m.count == 0 {
		return
	}
	m.percpu = true
}

// kill returns whether confirm must be called.
func (m *refModel) kill(confirm func()) {
	const op = "Kill"
	if m.exited {
		m.misuse(m.errAt(op, percpuref.ErrExited))
		return
	}
	if m.dying {
		m.misuse(m.errAt(op, percpuref.ErrKilled))
		return
	}
	if m.ended() || m.poisoned {
		m.misuse(m.onEnded(op))
		return
	}
	m.dying = true
	m.toAtomic(op)
	confirm()
	if !m.poisoned { // a count poisoned at the fold keeps every reference
		m.putCentral(op, 1)
	}
}

func (m *refModel) switchToAtomic(confirm func()) {
	const op = "SwitchToAtomic"
	if m.exited {
		m.misuse(m.errAt(op, percpuref.ErrExited))
		return
	}
	if m.poisoned {
		m.misuse(m.onEnded(op))
		return
	}
	m.sticky = true
	m.toAtomic(op)
	confirm()
}

func (m *refModel) switchToPercpu() {
	const op = "SwitchToPercpu"
	if m.exited {
		m.misuse(m.errAt(op, percpuref.ErrExited))
		return
	}
	switch {
	case m.poisoned:
		m.misuse(m.onEnded(op))
		return
	case m.cellsFreed:
		m.misuse(m.errAt(op, percpuref.ErrNoReinit))
		return
	}
	m.sticky = false
	if m.percpu || m.dying {
		return
	}
	m.toPercpu(op)
}

func (m *refModel) resurrect() {
	const op = "Resurrect"
	switch {
	case m.exited:
		m.misuse(m.errAt(op, percpuref.ErrExited))
	case m.ended() || m.poisoned:
		m.misuse(m.onEnded(op))
	case !m.dying:
		m.misuse(m.errAt(op, percpuref.ErrLive))
	case !m.sticky && m.cellsFreed:
		m.misuse(m.errAt(op, percpuref.ErrNoReinit))
	default:
		m.count++
		m.dying = false
		if !m.sticky {
			m.toPercpu(op)
		}
	}
}

func (m *refModel) reinit() {
	const op = "Reinit"
	switch {
	case m.exited:
		m.misuse(m.errAt(op, percpuref.ErrExited))
	case m.poisoned && !m.ended():
		m.misuse(m.onEnded(op))
	case !m.sticky && m.cellsFreed:
		m.misuse(m.errAt(op, percpuref.ErrNoReinit))
	case !m.ended():
		m.misuse(m.errAt(op, percpuref.ErrNotZero))
	default:
		m.count = 1
		m.released, m.neverLive, m.poisoned = false, false, false
		m.dying = false
		if !m.sticky {
			m.toPercpu(op)
		}
	}
}

func (m *refModel) exit() {
	if m.exited {
		return
	}
	m.toAtomic("Exit")
	m.cellsFreed = true
	m.exited = true
}

func (m *refModel) isZero() bool {
	return m.ended() || !m.percpu && !m.poisoned && m.count == 0
}

// recLocker is a sync.Locker that records whether it is held.
type recLocker struct {
	mu     sync.Mutex
	held   bool
	locks  int
	during bool // held while release ran
}

func (l *recLocker) Lock()   { l.mu.Lock(); l.held = true; l.locks++ }
func (l *recLocker) Unlock() { l.held = false; l.mu.Unlock() }

// fuzzMaxOps bounds the operations taken from one input, so that an
// execution stays short and long inputs minimize quickly.
const fuzzMaxOps = 256

// fuzzStep names an operation of an input in failure messages; it is
// formatted only when a message is.
type fuzzStep struct{ i, op, n int }

func (s fuzzStep) String() string {
	str := fmt.Sprintf("op %d %s", s.i, fuzzOpNames[s.op])
	if s.op == fzGetMany || s.op == fzPutMany || s.op == fzTryGetMany {
		str += fmt.Sprintf("(%d)", s.n)
	}
	return str
}

// fuzzRun runs one input; it returns a description of the first divergence
// between the Ref and the model, or "" if there is none, and if trace is
// set the operations it ran.
func fuzzRun(data []byte, trace bool) (log string, failure string) {
	if len(data) == 0 {
		return "", ""
	}
	opt := data[0]
	data = data[1:]
	if len(data) > fuzzMaxOps {
		data = data[:fuzzMaxOps]
	}
	var (
		ref      *percpuref.Ref
		got      []error
		releases int
		lk       recLocker
		inRel    bool
		fail     string
		tr       strings.Builder
	)
	failf := func(format string, args ...any) {
		if fail == "" {
			fail = fmt.Sprintf(format, args...)
		}
	}
	model := newRefModel(opt)
	release := func() {
		releases++
		inRel = true
		defer func() { inRel = false }()
		if lk.held {
			lk.during = true
		}
		if !ref.IsZero() {
			failf("IsZero false inside release")
		}
		switch {
		case model.reinitInRel:
			ref.Reinit()
		case model.exitInRel:
			ref.Exit()
		}
	}
	opts := []percpuref.Option{percpuref.WithMisuseHandler(func(err error) { got = append(got, err) })}
	if opt&fzOptAtomic != 0 {
		opts = append(opts, percpuref.InitAtomic())
	}
	if opt&fzOptDead != 0 {
		opts = append(opts, percpuref.InitDead())
	}
	if opt&fzOptAllowReinit != 0 {
		opts = append(opts, percpuref.AllowReinit())
	}
	if s := int(opt/fzOptShards0) & 3; s != 3 {
		opts = append(opts, percpuref.WithShards(1<<s))
	}
	if opt&fzOptLazy != 0 {
		opts = append(opts, percpuref.Lazy())
	} else {
		opts = append(opts, percpuref.Eager())
	}
	ref = percpuref.New(release, opts...)
	if trace {
		fmt.Fprintf(&tr, "New(atomic=%v dead=%v allowReinit=%v reinitInRelease=%v exitInRelease=%v shards=%d lazy=%v)\n",
			opt&fzOptAtomic != 0, opt&fzOptDead != 0, opt&fzOptAllowReinit != 0, model.reinitInRel, model.exitInRel, opt/fzOptShards0&3, opt&fzOptLazy != 0)
	}
	check := func(step fuzzStep) {
		if releases != model.releases {
			failf("%s: release ran %d times in all, want %d", step, releases, model.releases)
		}
		if g, w := ref.IsPercpu(), model.percpu; g != w {
			failf("%s: IsPercpu = %v, want %v", step, g, w)
		}
		if g, w := ref.IsDying(), model.dying; g != w {
			failf("%s: IsDying = %v, want %v", step, g, w)
		}
		if g, w := ref.IsZero(), model.isZero(); g != w {
			failf("%s: IsZero = %v, want %v", step, g, w)
		}
		if g, w := ref.Read(), model.read(); g != w {
			failf("%s: Read = %d, want %d", step, g, w)
		}
		if g, w := isClosed(ref.Done()), model.released; g != w {
			failf("%s: Done closed = %v, want %v", step, g, w)
		}
		// Misuse reports.
		if len(got) != len(model.alts) {
			failf("%s: misuse reports %v, want %v", step, got, model.alts)
		} else {
			for i, e := range got {
				if !matchMisuse(e, model.alts[i]) {
					failf("%s: misuse report %v, want one of %v", step, e, model.alts[i])
				}
			}
		}
		got, model.alts = nil, nil
	}
	confirmCheck := func(op fuzzStep, dying bool) func() {
		return func() {
			if ref.IsPercpu() {
				failf("%s: IsPercpu true inside confirm", op)
			}
			if dying && !ref.IsDying() {
				failf("%s: IsDying false inside confirm", op)
			}
			if releases != model.releases {
				failf("%s: release ran before confirm", op)
			}
		}
	}
	for i := 0; i < len(data) && fail == ""; i++ {
		op := int(data[i]) % fzNumOps
		n := 0
		if op == fzGetMany || op == fzPutMany || op == fzTryGetMany {
			if i+1 < len(data) {
				i++
				n = fuzzDeltas[int(data[i])%len(fuzzDeltas)]
			}
		}
		step := fuzzStep{i, op, n}
		if trace {
			fmt.Fprintf(&tr, "%v\n", step)
		}
		confirmed := false
		modelConfirm := func() { confirmed = true }
		var g, w bool
		cmp := true
		switch op {
		case fzGet:
			ref.Get()
			model.get("Get", 1, false)
			cmp = false
		case fzPut:
			g, w = ref.Put(), model.put("Put", 1, false)
		case fzGetMany:
			ref.GetMany(n)
			model.get("GetMany", n, true)
			cmp = false
		case fzPutMany:
			g, w = ref.PutMany(n), model.put("PutMany", n, true)
		case fzTryGet:
			g, w = ref.TryGet(), model.tryGet("TryGet", 1, false, false)
		case fzTryGetMany:
			g, w = ref.TryGetMany(n), model.tryGet("TryGetMany", n, true, false)
		case fzTryGetLive:
			g, w = ref.TryGetLive(), model.tryGet("TryGetLive", 1, false, true)
		case fzGetUnlessZero:
			g, w = ref.GetUnlessZero(), model.tryGet("TryGet", 1, false, false)
		case fzPutLocked:
			lk.locks, lk.during = 0, false
			wantLock := model.putLockedTakesLock()
			g, w = ref.PutLocked(&lk), model.put("PutLocked", 1, false)
			if lk.held {
				failf("%s: lock still held after PutLocked", step)
			}
			if wantLock != (lk.locks > 0) {
				failf("%s: PutLocked took the lock %d times, want lock taken = %v", step, lk.locks, wantLock)
			}
			if w && !lk.during {
				failf("%s: release ran without the lock held", step)
			}
		case fzKill:
			ref.Kill()
			model.kill(func() {})
			cmp = false
		case fzKillAsync:
			// Once the folder has finished (WaitAsyncKills), a KillAsync
			// has done what Kill does: the release and reports that it
			// left to the folder are the ones Kill would have made.
			ref.KillAsync()
			percpuref.WaitAsyncKills()
			model.kill(func() {})
			cmp = false
		case fzKillAllTwice:
			// KillAll kills both entries before it runs a release: the
			// second is judged (and reported, as a second Kill is) before
			// the release that the first made due, which may Exit or
			// Reinit the Ref, has run.
			percpuref.KillAll(ref, ref)
			reinitInRel, exitInRel, before := model.reinitInRel, model.exitInRel, model.releases
			model.reinitInRel, model.exitInRel = false, false
			model.kill(func() {})
			first := len(model.alts)
			model.kill(func() {}) // refused: reports, changes nothing
			second := append([][]wantErr(nil), model.alts[first:]...)
			model.alts = model.alts[:first]
			model.reinitInRel, model.exitInRel = reinitInRel, exitInRel
			if model.releases > before {
				switch {
				case reinitInRel:
					model.reinit()
				case exitInRel:
					model.exit()
				}
			}
			model.alts = append(model.alts, second...)
			cmp = false
		case fzKillAndConfirm:
			var calls int
			ref.KillAndConfirm(func() { calls++; confirmCheck(step, true)() })
			model.kill(modelConfirm)
			if calls != b2i(confirmed) {
				failf("%s: confirm ran %d times, want %d", step, calls, b2i(confirmed))
			}
			cmp = false
		case fzSwitchToAtomic:
			var calls int
			ref.SwitchToAtomic(func() { calls++; confirmCheck(step, false)() })
			model.switchToAtomic(modelConfirm)
			if calls != b2i(confirmed) {
				failf("%s: confirm ran %d times, want %d", step, calls, b2i(confirmed))
			}
			cmp = false
		case fzSwitchToAtomicSync:
			ref.SwitchToAtomicSync()
			model.switchToAtomic(func() {})
			cmp = false
		case fzSwitchToPercpu:
			ref.SwitchToPercpu()
			model.switchToPercpu()
			cmp = false
		case fzResurrect:
			ref.Resurrect()
			model.resurrect()
			cmp = false
		case fzReinit:
			ref.Reinit()
			model.reinit()
			cmp = false
		case fzExit:
			ref.Exit()
			model.exit()
			cmp = false
		case fzRead:
			cmp = false // check compares Read after every operation
		case fzIsZero:
			g, w = ref.IsZero(), model.isZero()
		case fzIsDying:
			g, w = ref.IsDying(), model.dying
		case fzIsPercpu:
			g, w = ref.IsPercpu(), model.percpu
		}
		if inRel {
			failf("%s: release still marked running", step)
		}
		if cmp && g != w {
			failf("%s: returned %v, want %v", step, g, w)
		}
		check(step)
	}
	return tr.String(), fail
}

func matchMisuse(e error, alts []wantErr) bool {
	var me *percpuref.MisuseError
	if !errors.As(e, &me) {
		return false
	}
	for _, w := range alts {
		if errors.Is(e, w.err) && me.Op == w.op && me.Poisoned == w.poisoned && me.Count == w.count {
			return true
		}
	}
	return false
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// fuzzSeed builds an input from options and operations; a *Many operation
// is followed by its delta index (fd*).
func fuzzSeed(opt byte, ops ...byte) []byte { return append([]byte{opt}, ops...) }

// Indexes into fuzzDeltas.
const (
	fd1 = iota
	fd2
	fd3
	fd5
	fd64
	fd1000
	fdMax
	fd0
	fdMinus1
	fdMinus7
	fdMaxPlus1
	fdMaxInt
	fdMinInt
)

// fuzzSeeds are the f.Add seeds; testdata/fuzz/FuzzRefAgainstModel holds
// the same and a few more.
var fuzzSeeds = [][]byte{
	// Normal life: per-CPU traffic, Kill, last Put releases (default cells).
	fuzzSeed(fzOptShards0|fzOptShards1, fzGet, fzGetMany, fd5, fzTryGet, fzTryGetLive, fzPut, fzPutMany, fd5, fzPut, fzKill, fzTryGetLive, fzTryGet, fzPut, fzPut, fzIsZero, fzTryGet),
	// Kill drops the last reference: release inside Kill, after confirm.
	fuzzSeed(fzOptAllowReinit, fzKillAndConfirm, fzIsZero, fzReinit, fzGet, fzKillAndConfirm, fzPutLocked),
	// Atomic mode: every Put to zero releases; Reinit cycles.
	fuzzSeed(fzOptAtomic, fzGet, fzPut, fzPutLocked, fzReinit, fzSwitchToPercpu, fzKill, fzReinit, fzIsPercpu),
	// InitDead, Reinit, Kill, Resurrect with a reference held.
	fuzzSeed(fzOptDead, fzGet, fzTryGet, fzReinit, fzGet, fzKill, fzResurrect, fzPut, fzKill),
	// Misuse: Put below zero in atomic mode, then everything on the poisoned Ref.
	fuzzSeed(fzOptAtomic, fzPut, fzPut, fzGet, fzTryGet, fzReinit, fzKill, fzResurrect, fzPut, fzRead),
	// Misuse: use after release.
	fuzzSeed(0, fzKill, fzGet, fzGetMany, fd2, fzTryGet, fzReinit),
	// Misuse: net underflow in per-CPU mode found at the switch.
	fuzzSeed(fzOptAllowReinit, fzPut, fzPut, fzRead, fzSwitchToAtomic, fzPut, fzKill),
	// Misuse: Kill twice, Resurrect on a live Ref, Reinit while held.
	fuzzSeed(fzOptAllowReinit, fzGet, fzKill, fzKill, fzResurrect, fzResurrect, fzReinit, fzPut),
	// Misuse: no AllowReinit, then SwitchToPercpu, Resurrect, Reinit.
	fuzzSeed(0, fzGet, fzSwitchToAtomicSync, fzSwitchToPercpu, fzKill, fzResurrect, fzPut, fzReinit),
	// Misuse: bad deltas.
	fuzzSeed(0, fzGetMany, fd0, fzPutMany, fdMinus1, fzTryGetMany, fdMaxPlus1, fzGetMany, fdMaxInt, fzPutMany, fdMinInt, fzGetMany, fdMax, fzPutMany, fdMax),
	// Misuse: everything after Exit.
	fuzzSeed(fzOptAllowReinit, fzGet, fzExit, fzGet, fzPut, fzPutMany, fd0, fzTryGetLive, fzPutLocked, fzKill, fzSwitchToAtomic, fzSwitchToPercpu, fzResurrect, fzReinit, fzExit),
	// Reinit from release, over and over (two padded shards).
	fuzzSeed(fzOptReinitInRel|fzOptShards0, fzKill, fzGet, fzTryGetLive, fzKill, fzPut, fzPut),
	// Exit from release.
	fuzzSeed(fzOptAtomic|fzOptExitInRel, fzPut, fzGet, fzReinit),
	// PutLocked: the final Put takes the lock and releases under it.
	fuzzSeed(fzOptAtomic, fzGet, fzPutLocked, fzTryGet, fzPutLocked, fzPutLocked, fzTryGet, fzGet),
	// Resurrect after release, Reinit of a live per-CPU Ref.
	fuzzSeed(fzOptAllowReinit, fzReinit, fzKill, fzResurrect, fzReinit, fzReinit, fzResurrect, fzKill, fzSwitchToPercpu, fzReinit),
	// One shard, back and forth between the modes with references held.
	fuzzSeed(fzOptAllowReinit, fzGetMany, fd1000, fzSwitchToAtomic, fzPutMany, fd64, fzSwitchToPercpu, fzTryGetMany, fd3, fzSwitchToAtomicSync, fzRead, fzPutMany, fd1000, fzPutMany, fd3, fzSwitchToPercpu, fzKill, fzPutMany, fd64),
	// Sticky atomic across Kill/Reinit and Resurrect.
	fuzzSeed(fzOptAllowReinit, fzSwitchToAtomic, fzKill, fzReinit, fzIsPercpu, fzGet, fzKill, fzResurrect, fzSwitchToPercpu, fzIsPercpu, fzPut),
}

func FuzzRefAgainstModel(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, fail := fuzzRun(data, false); fail != "" {
			trace, _ := fuzzRun(data, true)
			t.Fatalf("%s\noperations:\n%s", fail, trace)
		}
	})
}
