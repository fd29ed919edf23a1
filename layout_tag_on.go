//go:build (amd64 || arm64) && !purego && !race && percpunolayout

package percpu

// layoutTable is empty in builds with the percpunolayout tag: the running
// release is then as unknown as a future one, which lets the tests and the
// benchmarks check and measure the procPin tier on a release CI has.
var layoutTable = map[string][2]uintptr{}

// noLayoutTag reports a build with the percpunolayout tag.
const noLayoutTag = true
