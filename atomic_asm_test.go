//go:build (amd64 || arm64) && !purego && !race

package percpu

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRelease(t *testing.T) {
	for v, want := range map[string]string{
		"go1.26.8":                      "go1.26",
		"go1.25":                        "go1.25",
		"go1.24rc1":                     "go1.24",
		"go1.27beta2":                   "go1.27",
		"go1.26.0 X:nocoverageredesign": "go1.26",
		"devel go1.27-abcdef":           "",
		"gccgo":                         "",
	} {
		assert.Equal(t, want, release(v), "release(%q)", v)
	}
}

func TestLayoutKnownForThisRelease(t *testing.T) {
	r := release(runtime.Version())
	_, known := runtimeLayout[r]
	t.Logf("%s (%s): layout known %v, m.p at %d, p.m at %d", runtime.Version(), r, known, mOffP, pOffM)
	if known && barrierReady() {
		assert.True(t, Exclusive() || FastPath() == "shared/generic", "a known layout and membarrier give the exclusive path unless forced off")
	}
	if Exclusive() {
		assert.NotZero(t, mOffP, "the exclusive path runs only with the layout")
	}
}

// TestUpdateLocalRefusesUnknownLayout: with the layout unknown, the
// assembly must refuse every update rather than guess a P.
func TestUpdateLocalRefusesUnknownLayout(t *testing.T) {
	saved := mOffP
	defer func() { mOffP = saved }()
	mOffP = 0
	c := testCells(64, 7)
	require.False(t, UpdateLocal(c, 1))
	require.Equal(t, -1, pid())
	require.Zero(t, sum(c))
}
