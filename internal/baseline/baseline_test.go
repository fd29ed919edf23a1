package baseline

import (
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"

	"github.com/percpuref/percpu"
)

func TestTryGetAndPut(t *testing.T) {
	var c PaddedInt64
	assert.False(t, c.TryGet(), "no get on zero")
	assert.Equal(t, int64(0), c.Load())
	c.Store(1)
	assert.True(t, c.TryGet())
	assert.False(t, c.Put())
	assert.True(t, c.Put(), "the put that reaches zero reports it")
	assert.False(t, c.TryGet())
}

func TestConcurrentPairsBalance(t *testing.T) {
	var c PaddedInt64
	c.Store(1)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10000; i++ {
				if c.TryGet() {
					c.Put()
				}
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(1), c.Load())
}

func TestPadded(t *testing.T) {
	var c PaddedInt64
	assert.Equal(t, uintptr(2*percpu.CacheLinePad), unsafe.Sizeof(c))
	assert.Equal(t, uintptr(percpu.CacheLinePad), unsafe.Offsetof(c.Int64))
}

func TestKrefReleasesOnTheLastPut(t *testing.T) {
	released := 0
	k := NewKref(func() { released++ })
	k.Get()
	assert.True(t, k.TryGet())
	k.Put()
	k.Put()
	assert.Zero(t, released, "a reference remains")
	k.Put()
	assert.Equal(t, 1, released)
}

func TestKrefTryGetFailsOnZero(t *testing.T) {
	released := 0
	k := NewKref(func() { released++ })
	k.Put()
	assert.Equal(t, 1, released)
	assert.False(t, k.TryGet(), "no get on a released count")
	assert.Equal(t, int64(0), k.n.Load())
}
