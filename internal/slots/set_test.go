package slots

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"

	"github.com/percpuref/percpu"
	"github.com/percpuref/percpu/internal/cells"
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

func TestLayoutDescribesTheSet(t *testing.T) {
	assert.Equal(t, percpu.CacheLinePad, 1<<padShift)
	s := NewSet(4)
	base, last, shift := s.Layout()
	assert.Same(t, s.Cell(0), base)
	assert.Equal(t, uint16(3), last)
	assert.Equal(t, uint8(padShift), shift)
	c := cells.Cells{Base: base, Last: last, Shift: shift}
	for i := 0; i < 4; i++ {
		assert.Same(t, s.Cell(i), c.Cell(i))
	}
}
