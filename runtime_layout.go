package percpu

import "strings"

// runtimeLayout holds, for each Go release whose runtime the assembly fast
// path knows, the offsets of m.p and p.m: the fields it follows from the
// goroutine to its P (g.m.p.id) and back (p.m, checked at start). g.m (48)
// and p.id (0) have not moved since Go 1.5; the assembly has them as
// constants. The values are the fields m_p and p_m of the go_asm.h that the
// release's compiler writes for the runtime, identical for linux/amd64 and
// linux/arm64. TestRuntimeLayoutTable checks the table against the
// toolchain that runs it; CONTRIBUTING.md says how to add a release.
//
// A release missing here still gets an exclusive fast path: the P id comes
// from procPin instead of the runtime's structures (FastPath names it
// "exclusive/pin+membarrier"). No offset is ever guessed.
var runtimeLayout = map[string][2]uintptr{ // release: {m_p, p_m}
	"go1.26": {208, 48},
	"go1.27": {208, 48},
}

// release returns "go1.N" from a runtime.Version string such as
// "go1.26.8", or "" for a development build.
func release(v string) string {
	if !strings.HasPrefix(v, "go1.") {
		return ""
	}
	rest := v[len("go1."):]
	if i := strings.IndexAny(rest, ".rb -"); i >= 0 {
		rest = rest[:i]
	}
	return "go1." + rest
}
