//go:build (amd64 || arm64) && !purego && !race && !percpunolayout

package percpu

// layoutTable is the table directReady looks the running release up in.
var layoutTable = runtimeLayout

// noLayoutTag reports a build with the percpunolayout tag.
const noLayoutTag = false
