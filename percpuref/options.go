package percpuref

import "github.com/percpuref/percpu/internal/slots"

// An Option configures a Ref at New or Init.
type Option func(*config)

type config struct {
	atomic      bool
	dead        bool
	allowReinit bool
	padded      bool
	lazy        bool
	cells       int
	onMisuse    func(error)
}

// InitAtomic starts the Ref in atomic mode, as PERCPU_REF_INIT_ATOMIC does.
// The mode is sticky: the Ref stays atomic, across Kill and Reinit, until
// SwitchToPercpu. It implies AllowReinit.
func InitAtomic() Option { return func(c *config) { c.atomic = true } }

// InitDead starts the Ref dying with a count of 0, as PERCPU_REF_INIT_DEAD
// does; Reinit makes it live. Nothing is released for the initial state. It
// implies AllowReinit.
func InitDead() Option { return func(c *config) { c.dead = true } }

// AllowReinit keeps the per-CPU shards after a switch to atomic mode, so
// that SwitchToPercpu, Resurrect and Reinit can take the Ref back to per-CPU
// mode. Without it the shards are freed at the first switch to atomic mode
// (usually Kill), which is what a Ref that dies once wants.
func AllowReinit() Option { return func(c *config) { c.allowReinit = true } }

// WithShards gives the Ref n per-CPU shards of its own, each padded to a
// cache line, instead of slots in the shared per-P slabs (see Init). n is
// rounded up to a power of two and clamped to [1, slots.MaxCells]; n <= 0
// means GOMAXPROCS rounded up. Ps beyond the last shard share shards. Padded
// shards cost 128 bytes each, against 8 for a slot, and neither measures
// faster than the other in our benchmarks (BenchmarkLayout); they keep a Ref
// apart from every other, which a Ref whose shards must never be near
// another's may want.
func WithShards(n int) Option {
	return func(c *config) {
		c.padded = true
		c.cells = n
	}
}

// Lazy makes the Ref start without per-CPU cells: it counts on its central
// count with compare-and-swap, and takes its cells (a slot, as by default)
// the first time a compare-and-swap fails because another goroutine changed
// the count first. A Ref that is never contended so costs 32 bytes instead
// of 56 + 8·GOMAXPROCS (the cleanup that returns a slot takes 24); until it
// spreads, a Get or Put costs a compare-and-swap on a shared word, as a
// plain atomic count does. The semantics are those of per-CPU mode
// throughout (IsPercpu is true, and Put never releases before Kill). Lazy
// has no effect with WithShards.
func Lazy() Option { return func(c *config) { c.lazy = true } }

// WithMisuseHandler makes the Ref report misuse to h instead of panicking.
// h receives a *MisuseError. After a misuse that corrupts the count
// (underflow, use after release, saturation) the count is poisoned: pinned
// at a value that can never reach zero, so the Ref leaks instead of
// releasing at the wrong time or twice. h must not block; it may call back
// into the Ref.
func WithMisuseHandler(h func(error)) Option { return func(c *config) { c.onMisuse = h } }

func (c *config) shards() int {
	if c.cells > 0 {
		return c.cells
	}
	return slots.DefaultCells()
}
