package percpuref

// PutLocked, kref_put_mutex's counterpart: the lock is taken only for the
// Put that may be the last, and release runs with it held.

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
)

// semLocker is a sync.Locker that counts Lock calls and can run a hook
// just before taking the lock (to model a Get racing with the lock).
type semLocker struct {
	mu     sync.Mutex
	locks  int
	before func()
}

func (l *semLocker) Lock() {
	if l.before != nil {
		l.before()
		l.before = nil
	}
	l.mu.Lock()
	l.locks++
}

func (l *semLocker) Unlock() { l.mu.Unlock() }

// Kernel edge case `put-mutex` (docs/semantics.md): Puts that cannot be
// the last (per-CPU mode, or more references held) never touch mu.
func TestPutLockedTakesLockOnlyForFinalPut(t *testing.T) {
	var mu sync.Mutex
	heldInRelease := false
	r := New(func() { heldInRelease = !mu.TryLock() })
	r.GetMany(3) // count 4
	mu.Lock()
	// Per-CPU and non-final atomic puts must not touch mu (it is held here,
	// so taking it would deadlock).
	assert.False(t, r.PutLocked(&mu)) // per-CPU: 3
	r.Kill()                          // 2
	assert.False(t, r.PutLocked(&mu)) // atomic, not final: 1
	mu.Unlock()
	assert.True(t, r.PutLocked(&mu))
	assert.True(t, heldInRelease, "release runs with mu held")
	assert.True(t, mu.TryLock(), "PutLocked unlocks mu after release returns")
	mu.Unlock()
}

// Kernel edge case `put-mutex` (docs/semantics.md): from 1, true, release
// with the lock held (the kernel returns holding the lock and its release
// unlocks it; PutLocked unlocks after release returns). From 2: false,
// lock not taken. A Get racing in while the lock is being taken: false,
// lock released.
func TestPutLockedLikeKrefPutMutex(t *testing.T) {
	t.Run("from-1", func(t *testing.T) {
		var l semLocker
		held := false
		r := New(func() { held = !l.mu.TryLock() }, InitAtomic())
		assert.True(t, r.PutLocked(&l))
		assert.True(t, held, "release ran with the lock held")
		assert.Equal(t, 1, l.locks)
		assert.True(t, l.mu.TryLock(), "unlocked after PutLocked returned")
	})
	t.Run("from-2", func(t *testing.T) {
		var l semLocker
		var rel semRel
		r := New(rel.fn(), InitAtomic())
		r.Get()
		assert.False(t, r.PutLocked(&l))
		assert.Equal(t, 0, l.locks, "lock not taken when refs remain")
		assert.Equal(t, int64(1), r.Read())
		assert.Equal(t, 0, rel.calls())
	})
	t.Run("get-while-locking", func(t *testing.T) {
		var l semLocker
		var rel semRel
		r := New(rel.fn(), InitAtomic())
		l.before = r.Get // another holder appears while we take the lock
		assert.False(t, r.PutLocked(&l))
		assert.Equal(t, 1, l.locks)
		assert.True(t, l.mu.TryLock(), "lock released")
		l.mu.Unlock()
		assert.Equal(t, int64(1), r.Read())
		assert.Equal(t, 0, rel.calls())
		assert.True(t, r.PutLocked(&l))
		assert.Equal(t, 1, rel.calls())
	})
}

// Kernel edge case `put-once` (docs/semantics.md): Put returns true exactly
// once across concurrent putters; PutLocked runs release with the mutex
// held, and Put takes no lock.
func TestPutAndPutLockedReturnTrueOnceAmongConcurrentPutters(t *testing.T) {
	for _, locked := range []bool{false, true} {
		name := "Put"
		if locked {
			name = "PutLocked"
		}
		t.Run(name, func(t *testing.T) {
			const n = 32
			var mu sync.Mutex
			var rel semRel
			var heldInRelease atomic.Bool
			r := New(func() { rel.n.Add(1); heldInRelease.Store(!mu.TryLock()) })
			r.GetMany(n)
			r.Kill()
			var trues atomic.Int32
			var wg sync.WaitGroup
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var ok bool
					if locked {
						ok = r.PutLocked(&mu)
					} else {
						ok = r.Put()
					}
					if ok {
						trues.Add(1)
					}
				}()
			}
			wg.Wait()
			assert.Equal(t, int32(1), trues.Load())
			assert.Equal(t, 1, rel.calls())
			if locked {
				assert.True(t, heldInRelease.Load())
				assert.True(t, mu.TryLock(), "PutLocked left mu unlocked")
			} else {
				assert.False(t, heldInRelease.Load(), "plain Put takes no lock")
			}
		})
	}
}
