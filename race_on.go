//go:build race

package percpu

// raceBuild reports a build with the race detector, which cannot see inside
// assembly: such builds use the Go twins.
const raceBuild = true
