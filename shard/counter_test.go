package shard

import (
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
