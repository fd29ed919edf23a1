package percpuref

// The memory order of docs/semantics.md ("Memory order"): everything a
// holder wrote before its Put happens before release.

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestReleaseSeesWritesMadeBeforePuts(t *testing.T) {
	for _, mode := range []string{"percpu", "atomic"} {
		t.Run(mode, func(t *testing.T) {
			const n = 16
			data := make([]int, n) // plain, non-atomic memory
			var seen []int
			var opts []Option
			if mode == "atomic" {
				opts = append(opts, InitAtomic())
			}
			r := New(func() { seen = append([]int(nil), data...) }, opts...)
			r.GetMany(n)
			var wg sync.WaitGroup
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					data[i] = i + 1
					r.Put()
				}()
			}
			if mode == "atomic" {
				r.Put()
			} else {
				r.Kill()
			}
			wg.Wait()
			<-r.Done()
			want := make([]int, n)
			for i := range want {
				want[i] = i + 1
			}
			// Under -race, a missing happens-before edge between the writes
			// and release is reported as a data race.
			assert.Equal(t, want, seen)
		})
	}
}
