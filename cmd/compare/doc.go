// Package compare holds the benchmarks that measure percpuref against
// counters from other modules: today github.com/puzpuzpuz/xsync/v4's
// Counter. They live in the cmd module, not beside percpuref's benchmarks,
// so that the library's go.mod requires none of those modules and its
// users inherit none of them. The package has no code of its own; run its
// benchmarks from the repository root with
//
//	go test -run='^$' -bench=. ./cmd/compare/
//
// Every group names its implementations with an impl= key, atomic first,
// so that benchstat -col /impl prints them against that baseline, as
// percpuref's benchmarks do.
package compare
