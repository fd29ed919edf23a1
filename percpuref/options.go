package percpuref

import "github.com/percpuref/percpu/internal/slots"

// An Option configures a Ref at New or Init. Make one with InitAtomic,
// InitDead, AllowReinit, WithShards, Eager, Lazy or WithMisuseHandler; the zero
// Option changes nothing. An Option is a small value, not a function: New
// and Init read their options in place, so passing them allocates nothing
// (the variadic slice stays on the caller's stack).
type Option struct {
	kind optionKind
	n    int         // WithShards' n
	h    func(error) // WithMisuseHandler's h
}

type optionKind uint8

const (
	optionNone optionKind = iota
	optionAtomic
	optionDead
	optionAllowReinit
	optionShards
	optionLazy
	optionEager
	optionMisuse
)

type config struct {
	atomic      bool
	dead        bool
	allowReinit bool
	padded      bool
	eager       bool
	cells       int
	onMisuse    func(error)
}

// apply sets in c what o says; a later Option overrides an earlier one of
// the same kind.
func (c *config) apply(o *Option) {
	switch o.kind {
	case optionAtomic:
		c.atomic = true
	case optionDead:
		c.dead = true
	case optionAllowReinit:
		c.allowReinit = true
	case optionShards:
		c.padded = true
		c.cells = o.n
	case optionLazy:
		c.eager = false
	case optionEager:
		c.eager = true
	case optionMisuse:
		c.onMisuse = o.h
	}
}

// InitAtomic starts the Ref in atomic mode, as PERCPU_REF_INIT_ATOMIC does.
// The mode is sticky: the Ref stays atomic, across Kill and Reinit, until
// SwitchToPercpu. It implies AllowReinit. Until it first goes per-CPU the
// Ref has no per-CPU cells (unless WithShards gives it shards): it costs its
// 32 bytes and nothing else, as an atomic count does; SwitchToPercpu, or a
// Resurrect or Reinit after it, makes it per-CPU as Lazy does, taking a slot
// at the first contention (or at once, with Eager).
func InitAtomic() Option { return Option{kind: optionAtomic} }

// InitDead starts the Ref dying with a count of 0, as PERCPU_REF_INIT_DEAD
// does; Reinit makes it live. Nothing is released for the initial state. It
// implies AllowReinit.
func InitDead() Option { return Option{kind: optionDead} }

// AllowReinit keeps the per-CPU cells after a switch to atomic mode, so
// that SwitchToPercpu, Resurrect and Reinit can take the Ref back to per-CPU
// mode. Without it the cells are freed at the first switch to atomic mode
// (usually Kill), which is what a Ref that dies once wants.
func AllowReinit() Option { return Option{kind: optionAllowReinit} }

// WithShards gives the Ref n per-CPU shards of its own, each padded to a
// cache line, instead of slots in the shared per-P slabs (see Init). n is
// rounded up to a power of two and clamped to [1, slots.MaxCells]; n <= 0
// means GOMAXPROCS rounded up. Ps beyond the last shard share shards. Padded
// shards cost 128 bytes each, against 8 for a slot, and neither measures
// faster than the other in our benchmarks (BenchmarkLayout); they keep a Ref
// apart from every other, which a Ref whose cells must never be near
// another's may want.
func WithShards(n int) Option { return Option{kind: optionShards, n: n} }

// Lazy is the default: the Ref starts without per-CPU cells, counts on its
// central count with compare-and-swap, and takes its cells (a slot) the
// first time a compare-and-swap fails because another goroutine changed the
// count first. Until then a Get or Put costs a compare-and-swap on one word,
// as a plain atomic count does, and the Ref costs its 32 bytes and nothing
// else: New and Kill take no slot, register no cleanup and issue no
// membarrier. Once it has spread it is what Eager makes. The semantics are
// those of per-CPU mode throughout (IsPercpu is true, and Put never releases
// before Kill). Lazy undoes an earlier Eager in the same call; it has no
// effect with WithShards.
func Lazy() Option { return Option{kind: optionLazy} }

// Eager gives the Ref its per-CPU cells (a slot) at New, rather than at its
// first contention: a Ref that will be hot from the start counts per-CPU
// from its first Get, and a single goroutine's Get and Put are the per-CPU
// fast path (about twice as fast as an atomic add) rather than the central
// compare-and-swap. It costs what a spread Ref costs from the start: a slot
// of 8 bytes per P, a cleanup of 24 bytes if the Ref lives past the next
// garbage collection (see Init), and a membarrier at Kill. Eager undoes an
// earlier Lazy in the same call; WithShards implies it.
func Eager() Option { return Option{kind: optionEager} }

// WithMisuseHandler makes the Ref report misuse to h instead of panicking.
// h receives a *MisuseError. After a misuse that corrupts the count
// (underflow, use after release, saturation) the count is poisoned: pinned
// at a value that can never reach zero, so the Ref leaks instead of
// releasing at the wrong time or twice. h must not block; it may call back
// into the Ref.
func WithMisuseHandler(h func(error)) Option { return Option{kind: optionMisuse, h: h} }

func (c *config) shards() int {
	if c.cells > 0 {
		return c.cells
	}
	return slots.DefaultCells()
}
