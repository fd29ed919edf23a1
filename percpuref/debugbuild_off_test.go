//go:build !percpurefdebug

package percpuref

// debugBuild: see debugbuild_on_test.go.
const debugBuild = false
