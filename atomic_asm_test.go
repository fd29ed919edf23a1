//go:build (amd64 || arm64) && !purego && !race

package percpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/percpuref/percpu/internal/cells"
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
	_, known := layoutTable[r]
	t.Logf("%s (%s): layout known %v, m.p at %d, p.m at %d", runtime.Version(), r, known, mOffP, pOffM)
	assert.Equal(t, known, mOffP != 0, "the offsets are set exactly when the table knows the release")
	if !noLayoutTag {
		assert.True(t, known, "%s is not in runtimeLayout: see CONTRIBUTING.md", r)
	}
}

// TestUpdateLocalPinnedWhereLayoutUnknown: with the layout unknown, the
// assembly must not guess a P: pid refuses, and UpdateLocal counts on
// procPin's P instead (the procPin tier), exactly.
func TestUpdateLocalPinnedWhereLayoutUnknown(t *testing.T) {
	saved := mOffP
	defer func() { mOffP = saved }()
	mOffP = 0
	require.Equal(t, -1, pid())
	c := testCells(64, 7)
	for i := 0; i < 100; i++ {
		require.True(t, updateLocal(c, 1))
	}
	require.Equal(t, int64(100), sum(c))
	c.State.Store(cells.Live + 1)
	require.False(t, updateLocal(c, 1), "a state other than cells.Live refuses")
	require.Equal(t, int64(100), sum(c))
	few := testCells(1, 7)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	var stored, refused atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				if updateLocal(few, 1) {
					stored.Add(1)
				} else {
					refused.Add(1)
				}
				if i%8 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	wg.Wait()
	require.Equal(t, int64(4000), stored.Load()+refused.Load())
	require.Equal(t, stored.Load(), sum(few), "only P 0 has a cell; the others refuse")
}
