//go:build percpurefdebug

package percpuref

// debugBuild: the percpurefdebug attribution records allocate, so the tests
// that count allocations skip.
const debugBuild = true
