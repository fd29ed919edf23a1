//go:build !race && (purego || !(amd64 || arm64))

package percpu

// raceBuild reports a build with the race detector. Only the generic build
// asks.
const raceBuild = false
