// Package alu is the arithmetic loop of the root package's
// BenchmarkMachine (its impl=alu) and of cmd/refbench's probe of the
// host's state: four independent chains of arithmetic, bound by the core's
// instruction throughput, with no memory access. It is a package of its
// own, not part of internal/benchkit, so that cmd/refbench does not link
// the testing package.
package alu

// Run runs n iterations of the loop from the state s and returns the state
// after them.
func Run(s [4]uint64, n int) [4]uint64 {
	a0, a1, a2, a3 := s[0], s[1], s[2], s[3]
	for i := 0; i < n; i++ {
		a0 = a0*3 + 1
		a1 = a1*5 + 1
		a2 = a2 ^ (a2 >> 3) + 7
		a3 = a3 ^ (a3 << 1) + 9
		a0 ^= a1 >> 7
		a2 ^= a3 >> 5
	}
	return [4]uint64{a0, a1, a2, a3}
}
