//go:build !race

package percpu

// raceBuild reports a build with the race detector.
const raceBuild = false
