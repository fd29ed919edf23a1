package percpuref_test

import (
	"fmt"
	"sync"

	"github.com/percpuref/percpu/percpuref"
)

// A shared object hands a reference to each goroutine that uses it (kref's
// rule: take a reference before passing the pointer on). The owner's Kill
// drops the initial reference; release runs when the last user's Put
// returns.
func ExampleNew() {
	type conn struct {
		ref  *percpuref.Ref
		name string
	}
	c := &conn{name: "db"}
	c.ref = percpuref.New(func() { fmt.Println("closing", c.name) })

	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		c.ref.Get() // per-CPU: touches only this P's shard
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.ref.Put()
			_ = c.name // use c
		}()
	}
	c.ref.Kill() // end of life: from here the count is exact
	<-c.ref.Done()
	wg.Wait()
	fmt.Println("zero:", c.ref.IsZero(), "dying:", c.ref.IsDying())
	// Output:
	// closing db
	// zero: true dying: true
}

// KillAndConfirm runs confirm once the Ref is atomic and dying, before it
// drops the initial reference; if that was the last one, release runs
// inside KillAndConfirm.
func ExampleRef_KillAndConfirm() {
	r := percpuref.New(func() { fmt.Println("release") })
	r.Get()
	r.KillAndConfirm(func() { fmt.Println("confirm: TryGetLive =", r.TryGetLive()) })
	fmt.Println("count after Kill:", r.Read())
	fmt.Println("last Put released:", r.Put())
	// Output:
	// confirm: TryGetLive = false
	// count after Kill: 1
	// release
	// last Put released: true
}

// InitAtomic starts the Ref as a plain kref: the Put that reaches zero
// releases, with no Kill.
func ExampleInitAtomic() {
	r := percpuref.New(func() { fmt.Println("released") }, percpuref.InitAtomic())
	r.Get()
	fmt.Println("per-CPU:", r.IsPercpu(), "count:", r.Read())
	fmt.Println(r.Put())
	fmt.Println(r.Put())
	// Output:
	// per-CPU: false count: 2
	// false
	// released
	// true
}

// A Ref that is hot from the start: Eager gives it its per-CPU cells at
// New, so that even the first Gets, and a single goroutine's, count on the
// caller's P rather than on the one central word.
func ExampleEager() {
	r := percpuref.New(func() { fmt.Println("released") }, percpuref.Eager())
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				r.Get()
				r.Put()
			}
		}()
	}
	wg.Wait()
	fmt.Println("per-CPU:", r.IsPercpu(), "count:", r.Read())
	r.Kill()
	// Output:
	// per-CPU: true count: 1
	// released
}

// Many Refs of which few are ever contended: by default (Lazy) each stays
// at 32 bytes until two goroutines race on it, when it takes its per-CPU
// cells. The semantics do not change: the count is exact, and release
// waits for Kill.
func ExampleLazy() {
	type entry struct {
		ref percpuref.Ref
		key int
	}
	entries := make([]*entry, 1000)
	for i := range entries {
		e := &entry{key: i}
		e.ref.Init(func() {}) // Lazy is the default
		entries[i] = e
	}
	hot := entries[7]
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				hot.ref.Get()
				hot.ref.Put()
			}
		}()
	}
	wg.Wait()
	fmt.Println("count:", hot.ref.Read(), "per-CPU:", hot.ref.IsPercpu())
	for _, e := range entries {
		e.ref.Kill()
	}
	fmt.Println("released:", hot.ref.IsZero())
	// Output:
	// count: 1 per-CPU: true
	// released: true
}

// A cache shuts down: every entry's Ref dies at once. KillAll kills them as
// Kill would each, with one membarrier for the batch instead of one per
// Ref; an entry still in use is released by its user's last Put.
func ExampleKillAll() {
	type entry struct {
		ref *percpuref.Ref
		key string
	}
	var closed int
	cache := map[string]*entry{}
	for _, k := range []string{"a", "b", "c"} {
		e := &entry{key: k}
		e.ref = percpuref.New(func() { closed++ }, percpuref.Eager())
		cache[k] = e
	}
	inUse := cache["b"]
	inUse.ref.Get() // a user still holds "b"

	refs := make([]*percpuref.Ref, 0, len(cache))
	for _, e := range cache {
		refs = append(refs, e.ref)
	}
	percpuref.KillAll(refs...)
	fmt.Println("released by KillAll:", closed)

	inUse.ref.Put()
	fmt.Println("released after the last Put:", closed)
	// Output:
	// released by KillAll: 2
	// released after the last Put: 3
}

// KillAsync ends a Ref's life without waiting for the membarrier that the
// Kill of a Ref with cells costs: a goroutine of the package finishes it,
// for every Ref killed meanwhile under one membarrier. The Ref is dying at
// once; release runs in that goroutine (or in the last Put after it), and
// Done tells when it has.
func ExampleRef_KillAsync() {
	type reader struct {
		ref  *percpuref.Ref
		name string
	}
	closed := make(chan string, 2)
	var readers []*reader
	for _, name := range []string{"sst-1", "sst-2"} {
		rd := &reader{name: name}
		rd.ref = percpuref.New(func() { closed <- rd.name }, percpuref.Eager())
		readers = append(readers, rd)
	}
	busy := readers[1]
	busy.ref.Get() // a scan still reads sst-2

	for _, rd := range readers {
		rd.ref.KillAsync() // returns before the switch
		fmt.Println(rd.name, "dying:", rd.ref.IsDying(), "new scans:", rd.ref.TryGetLive())
	}
	<-readers[0].ref.Done()
	fmt.Println("closed:", <-closed)

	busy.ref.Put() // the scan ends; this or the folder releases sst-2
	<-busy.ref.Done()
	fmt.Println("closed:", <-closed)
	// Output:
	// sst-1 dying: true new scans: false
	// sst-2 dying: true new scans: false
	// closed: sst-1
	// closed: sst-2
}
