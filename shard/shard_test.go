package shard

import (
	"runtime"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/percpuref/percpu"
)

func TestRoundCells(t *testing.T) {
	for n, want := range map[int]int{-3: 1, 0: 1, 1: 1, 2: 2, 3: 4, 5: 8, 64: 64, 65: 128, MaxCells: MaxCells, MaxCells + 1: MaxCells, 1 << 20: MaxCells} {
		assert.Equal(t, want, roundCells(n), "roundCells(%d)", n)
		assert.Equal(t, want, NewSet(n).Len(), "NewSet(%d).Len()", n)
	}
}

func TestSetCellsArePaddedAndAligned(t *testing.T) {
	assert.Equal(t, uintptr(percpu.CacheLinePad), unsafe.Sizeof(Cell{}))
	for _, n := range []int{1, 2, 4, 8, 64, MaxCells} {
		s := NewSet(n)
		base := uintptr(unsafe.Pointer(s.Cell(0)))
		assert.Zero(t, base%percpu.CacheLinePad, "cells of a %d-cell Set start on a %d-byte boundary", n, percpu.CacheLinePad)
		if n > 1 {
			assert.Equal(t, uintptr(percpu.CacheLinePad), uintptr(unsafe.Pointer(s.Cell(1)))-base)
		}
		assert.Equal(t, n*percpu.CacheLinePad, s.Bytes())
	}
}

func TestCellWrapsIndex(t *testing.T) {
	s := NewSet(4)
	assert.Same(t, s.Cell(1), s.Cell(5), "P ids past Len share a cell")
	assert.Same(t, s.Cell(0), s.Cell(4))
}

func TestCounterZeroValueAndConcurrentAdds(t *testing.T) {
	var c Counter
	assert.Equal(t, int64(0), c.Load())
	const workers, per = 8, 10000
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				c.Add(int64(w + 1))
				if i%64 == 0 {
					runtime.Gosched()
				}
			}
		}(w)
	}
	wg.Wait()
	require.Equal(t, int64(per*workers*(workers+1)/2), c.Load())
	assert.Equal(t, int64(per*workers*(workers+1)/2), c.Swap())
	assert.Equal(t, int64(0), c.Load())
	c.Add(-7)
	assert.Equal(t, int64(-7), c.Load())
	c.Reset()
	assert.Equal(t, int64(0), c.Load())
}

func TestCounterSwapLosesNothing(t *testing.T) {
	c := NewCounter(4)
	const workers, per = 4, 20000
	var wg sync.WaitGroup
	var harvested int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				harvested += c.Swap()
				runtime.Gosched()
			}
		}
	}()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				c.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-done
	assert.Equal(t, int64(workers*per), harvested+c.Load(), "every Add is in exactly one Swap or in the final value")
}

func TestLayoutDescribesTheSet(t *testing.T) {
	assert.Equal(t, percpu.CacheLinePad, 1<<padShift)
	s := NewSet(4)
	base, last, shift := s.Layout()
	assert.Same(t, s.Cell(0), base)
	assert.Equal(t, uint16(3), last)
	assert.Equal(t, uint8(padShift), shift)
	c := percpu.Cells{Base: base, Last: last, Shift: shift}
	for i := 0; i < 4; i++ {
		assert.Same(t, s.Cell(i), c.Cell(i))
	}
}
