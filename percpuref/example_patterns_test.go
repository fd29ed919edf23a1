package percpuref_test

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/percpuref/percpu/percpuref"
)

// Handing a reference to a goroutine: the parent takes the reference
// before the go statement, while it still holds its own, and the goroutine
// only drops it. Safe because the count cannot reach zero between the Get
// and the handoff. The unsafe version, a Get inside the goroutine, races
// with the parent's Kill: the goroutine may start after release ran.
func Example_handoff() {
	type job struct {
		ref  *percpuref.Ref
		data string
	}
	j := &job{data: "payload"}
	j.ref = percpuref.New(func() { fmt.Println("freed", j.data) })

	results := make(chan string, 3)
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		j.ref.Get() // before the handoff, never after
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer j.ref.Put() // runs before wg.Done
			results <- fmt.Sprint("worker ", i, " used ", j.data)
		}()
	}
	j.ref.Kill() // the parent is done; release runs at the last Put
	wg.Wait()
	close(results)
	var out []string
	for r := range results {
		out = append(out, r)
	}
	sort.Strings(out)
	for _, r := range out {
		fmt.Println(r)
	}
	// Output:
	// freed payload
	// worker 0 used payload
	// worker 1 used payload
	// worker 2 used payload
}

// A list of objects under a mutex (kref_put_mutex): lookups Get under the
// lock, and the final put is PutLocked, which takes the lock so that release
// unlinks the entry before any lookup can see it. Safe because the count
// reaches zero only with the lock held (in PutLocked, or in the owner's
// Kill, also made under the lock), and release unlinks the entry before the
// lock is released: a lookup under the lock never finds an entry at zero.
// The Ref is per-CPU until the owner Kills it, so Puts before that never
// take the lock.
func Example_mutexList() {
	type entry struct {
		ref  percpuref.Ref
		name string
	}
	var (
		mu   sync.Mutex
		list = map[string]*entry{}
	)
	add := func(name string) {
		e := &entry{name: name}
		e.ref.Init(func() { // runs with mu held
			delete(list, e.name)
			fmt.Println("unlinked", e.name)
		})
		mu.Lock()
		list[name] = e
		mu.Unlock()
	}
	lookup := func(name string) *entry {
		mu.Lock()
		defer mu.Unlock()
		e := list[name]
		if e != nil {
			e.ref.Get() // the list's entry holds a reference: Get cannot fail
		}
		return e
	}

	add("a")
	e := lookup("a")
	mu.Lock()
	e.ref.Kill() // the owner lets go; a release here would run with mu held
	mu.Unlock()
	again := lookup("a")
	fmt.Println("still listed:", again != nil)
	again.ref.PutLocked(&mu)
	e.ref.PutLocked(&mu) // the last reference: takes mu, release unlinks
	fmt.Println("after last put:", lookup("a") == nil)
	// Output:
	// still listed: true
	// unlinked a
	// after last put: true
}

// Lookup with GetUnlessZero, so that the final Put needs no lock: release
// takes the lock itself to unlink the entry. Between the count reaching
// zero and release taking the lock, a lookup can still find the entry;
// GetUnlessZero fails on it, and the lookup treats it as absent. Safe
// because the lookup and the GetUnlessZero happen under the same lock that
// release needs, so the entry (and its Ref) cannot be unlinked or reused in
// between, and increment-unless-zero never revives a count of zero.
func Example_getUnlessZero() {
	type entry struct {
		ref  percpuref.Ref
		name string
	}
	var (
		mu   sync.Mutex
		list = map[string]*entry{}
	)
	e := &entry{name: "a"}
	e.ref.Init(func() {
		mu.Lock() // the final Put holds no lock, so release may take it
		delete(list, e.name)
		mu.Unlock()
	})
	list["a"] = e
	lookup := func(name string) *entry { // called with mu held
		if e := list[name]; e != nil && e.ref.GetUnlessZero() {
			return e
		}
		return nil
	}

	mu.Lock()
	held := lookup("a")
	mu.Unlock()
	e.ref.Kill() // the owner's reference; held keeps the entry alive

	mu.Lock() // hold the lock so that release must wait for it
	released := make(chan struct{})
	go func() {
		held.ref.Put() // the last reference: release blocks on mu
		close(released)
	}()
	for !e.ref.IsZero() {
		runtime.Gosched()
	}
	fmt.Println("listed:", list["a"] != nil, "lookup found it:", lookup("a") != nil)
	mu.Unlock()
	<-released
	fmt.Println("listed after release:", list["a"] != nil)
	// Output:
	// listed: true lookup found it: false
	// listed after release: false
}

// A lock-free lookup, the Go analogue of the kernel's RCU-protected list
// with kref_get_unless_zero (Documentation/RCU/rcuref.rst, listings B and
// C): readers find the entry in a sync.Map without any lock and take a
// reference with TryGet; release deletes the entry. In Go the garbage
// collector plays the part of the RCU grace period: a reader that loaded
// the pointer just before the delete can still dereference it safely, and
// TryGet (increment unless zero) tells it the entry is dead. Safe as long
// as entries are never reused (no sync.Pool of Refs: a recycled Ref would
// let a stale reader's TryGet succeed on someone else's object, the ABA of
// grpc-go's pooled refcounts).
func Example_lockFreeLookup() {
	type entry struct {
		ref  percpuref.Ref
		name string
	}
	var table sync.Map // name -> *entry
	e := &entry{name: "a"}
	e.ref.Init(func() {
		table.CompareAndDelete(e.name, e) // only this entry, not a successor
		fmt.Println("deleted", e.name)
	})
	table.Store("a", e)
	lookup := func(name string) *entry {
		v, ok := table.Load(name)
		if !ok {
			return nil
		}
		if e := v.(*entry); e.ref.TryGet() { // per-CPU while the owner holds it
			return e
		}
		return nil // found, but already released
	}

	r := lookup("a")
	stale, _ := table.Load("a") // a reader about to call TryGet
	e.ref.Kill()
	r.ref.Put() // the last reference: release deletes the entry
	fmt.Println("stale reader's TryGet:", stale.(*entry).ref.TryGet())
	fmt.Println("lookup after release:", lookup("a") == nil)
	// Output:
	// deleted a
	// stale reader's TryGet: false
	// lookup after release: true
}

// A cache that resurrects entries after release (the Akaros dentry case):
// release does not free the entry, it marks it unused (an evictor could
// then drop it), and a later lookup brings it back with Reinit. Reading the
// count and then choosing between Reinit and Get is racy on its own; here
// both happen under the cache's lock, and the final put is PutLocked, so
// the count reaches zero and release runs only with that lock held. A
// lookup under the lock therefore sees either a count above zero (TryGet
// succeeds) or an entry whose release has returned (TryGet fails and Reinit
// is legal). The entries are plain krefs (InitAtomic, which also allows
// Reinit): every Put can be the last.
func Example_resurrectingCache() {
	type dentry struct {
		ref    percpuref.Ref
		name   string
		unused bool // guarded by mu
	}
	var (
		mu    sync.Mutex
		cache = map[string]*dentry{}
	)
	get := func(name string) *dentry {
		mu.Lock()
		defer mu.Unlock()
		d := cache[name]
		switch {
		case d == nil:
			d = &dentry{name: name}
			d.ref.Init(func() { // runs with mu held
				d.unused = true
				fmt.Println("release", d.name)
			}, percpuref.InitAtomic())
			cache[name] = d
			fmt.Println("create", name)
		case !d.ref.TryGet():
			d.ref.Reinit() // count 0 and release returned: a new life
			d.unused = false
			fmt.Println("resurrect", name)
		}
		return d
	}
	put := func(d *dentry) { d.ref.PutLocked(&mu) }

	d1 := get("etc")
	d2 := get("etc") // a second user of the live entry
	put(d1)
	put(d2) // the last: release marks it unused, under mu
	d3 := get("etc")
	fmt.Println("same entry:", d3 == d1, "unused:", d3.unused)
	put(d3)
	// Output:
	// create etc
	// release etc
	// resurrect etc
	// same entry: true unused: false
	// release etc
}

// Graceful shutdown: each request is admitted with TryGetLive and holds a
// reference while it runs; KillAndConfirm stops admission (TryGetLive fails
// for every request that starts after it returns, and confirm runs once
// that holds); Wait drains the requests in flight, with a deadline. Safe
// because admission and draining are one count: a request is either
// admitted before the Kill, and then counted, or refused.
func Example_gracefulShutdown() {
	srv := percpuref.New(func() { fmt.Println("all requests done") })
	unblock := make(chan struct{})
	admit := func() bool {
		if !srv.TryGetLive() {
			return false
		}
		go func() {
			defer srv.Put()
			<-unblock // the request's work
		}()
		return true
	}

	for i := 0; i < 3; i++ {
		fmt.Println("admitted:", admit())
	}
	srv.KillAndConfirm(func() { fmt.Println("admission stopped") })
	fmt.Println("admitted after Kill:", admit())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	fmt.Println("drain with a short deadline:", srv.Wait(ctx))
	close(unblock) // let the requests finish
	fmt.Println("drain:", srv.Wait(context.Background()))
	// Output:
	// admitted: true
	// admitted: true
	// admitted: true
	// admission stopped
	// admitted after Kill: false
	// drain with a short deadline: context deadline exceeded
	// all requests done
	// drain: <nil>
}

// A configuration snapshot read on every request and replaced rarely:
// readers lease the current value at per-CPU cost, a Swap publishes a new
// one, and each retired value is released once its last lease is gone.
// Safe because a lease holds a reference on its value's own Ref, which
// cannot reach zero (and so cannot run release) while the lease is held.
func ExampleShared() {
	type config struct{ version int }
	cfg := percpuref.NewShared(&config{version: 1}, func(c *config) {
		fmt.Println("retired version", c.version)
	})

	old, _ := cfg.Acquire()
	cfg.Swap(&config{version: 2}) // version 1 stays valid for old
	cur, _ := cfg.Acquire()
	fmt.Println("old lease:", old.Value().version, "new lease:", cur.Value().version)
	cur.Release()
	old.Release() // the last lease on version 1

	if err := cfg.Close(context.Background()); err != nil {
		fmt.Println(err)
	}
	_, ok := cfg.Acquire()
	fmt.Println("Acquire after Close:", ok)
	// Output:
	// old lease: 1 new lease: 2
	// retired version 1
	// retired version 2
	// Acquire after Close: false
}

// Wait blocks until release has returned, or until the context ends. It
// drops no reference itself: the owner still Kills, and holders still Put.
func ExampleRef_Wait() {
	r := percpuref.New(func() { fmt.Println("released") })
	r.Get()
	go func() {
		time.Sleep(time.Millisecond)
		r.Put()
	}()
	r.Kill()
	if err := r.Wait(context.Background()); err != nil {
		fmt.Println(err)
	}
	fmt.Println("zero:", r.IsZero())
	// Output:
	// released
	// zero: true
}
