//go:build percpurefdebug

package percpuref

import (
	"fmt"
	"os"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"sync"
	"weak"
)

// Leak and misuse attribution, built with the percpurefdebug tag.
//
// Each Ref gets a side record (kept in a table keyed by a weak pointer to
// the Ref, and dropped by a runtime cleanup when the Ref is collected, so
// the Ref itself is unchanged and records never outlive their Refs). The
// record holds, for the Ref's current life:
//
//   - per call site, the number of references taken there: Get, GetMany,
//     and TryGet, TryGetMany, TryGetLive and GetUnlessZero when they
//     succeed;
//   - the total number of references dropped by Put, PutMany and
//     PutLocked (not per site: a Put cannot be matched to the Get it
//     balances, so a per-site Put count would say nothing about holders);
//   - the site of the operation that ran release (a Put, PutMany,
//     PutLocked, or the Kill that dropped the last reference), which a
//     misuse reported after release carries (MisuseError.ReleaseSite) and,
//     when it is about to panic, prints to standard error.
//
// A call site is the first caller outside this package (code of this
// package's own tests counts as outside), so a Lease.Release of a Shared is
// attributed to the line that called Lease.Release. Sites are aggregated, so
// the memory per Ref is bounded: at most maxDebugSites sites, and the rest
// are counted together under one Site whose Func is "(other sites)". A life
// ends when release runs; the first operation seen after a Reinit (or a new
// Init) starts a new record.
//
// The cost is that of runtime.Callers and a mutex on every Get and Put, so
// the tag is for tests and for hunting a bug, not for production.

const maxDebugSites = 64

// Site is a place in the source where references to a Ref were taken, with
// the number taken there. Holders returns them.
type Site struct {
	Func string // the package-qualified function
	File string // the file's full path
	Line int
	Gets int64 // references taken at this site in the Ref's current life
}

// String formats the site as "FILE:LINE FUNC (N gets)".
func (s Site) String() string {
	return fmt.Sprintf("%s:%d %s (%d gets)", s.File, s.Line, s.Func, s.Gets)
}

type siteKey struct {
	fn, file string
	line     int
}

type refDebug struct {
	mu       sync.Mutex
	gets     map[siteKey]int64
	puts     int64 // references dropped by Put, PutMany, PutLocked
	total    int64 // references taken (Σ gets)
	released bool  // release has run in this life
	relSite  siteKey
}

var debugRecords sync.Map // weak.Pointer[Ref] -> *refDebug

// record returns r's record, making it on first use.
func record(r *Ref) *refDebug {
	k := weak.Make(r)
	if d, ok := debugRecords.Load(k); ok {
		return d.(*refDebug)
	}
	d, loaded := debugRecords.LoadOrStore(k, &refDebug{gets: map[siteKey]int64{}})
	if !loaded {
		runtime.AddCleanup(r, func(k weak.Pointer[Ref]) { debugRecords.Delete(k) }, k)
	}
	return d.(*refDebug)
}

// lockRecord returns r's record, locked, started afresh if the life it
// describes has ended and the Ref has been made live again (Reinit, Init).
func lockRecord(r *Ref) *refDebug {
	d := record(r)
	d.mu.Lock()
	if d.released && r.cells.State.Load()&stReleased == 0 {
		d.gets = map[siteKey]int64{}
		d.puts, d.total, d.released, d.relSite = 0, 0, false, siteKey{}
	}
	return d
}

// pkgPrefix is this package's function-name prefix, such as
// "github.com/percpuref/percpu/percpuref.".
var pkgPrefix = func() string {
	name := runtime.FuncForPC(reflect.ValueOf(debugAnchor).Pointer()).Name()
	return strings.TrimSuffix(name, "debugAnchor")
}()

func debugAnchor() {}

// siteCache maps the first return addresses of a stack to the site they
// resolve to, so that a hot call site is resolved once.
var siteCache sync.Map // [4]uintptr -> siteKey

// callerSite returns the first frame of the calling goroutine's stack that
// is outside this package's non-test code.
func callerSite() siteKey {
	var pcs [4]uintptr
	n := runtime.Callers(2, pcs[:])
	if s, ok := siteCache.Load(pcs); ok {
		return s.(siteKey)
	}
	// A site found among the frames of these first PCs depends on them
	// alone, and is cached; one found deeper is not.
	if s, ok := firstOutside(pcs[:n]); ok {
		siteCache.Store(pcs, s)
		return s
	}
	var deep [64]uintptr
	m := runtime.Callers(2, deep[:])
	if s, ok := firstOutside(deep[:m]); ok {
		return s
	}
	return siteKey{fn: "(unknown)"}
}

func firstOutside(pcs []uintptr) (siteKey, bool) {
	if len(pcs) == 0 {
		return siteKey{}, false
	}
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, pkgPrefix) || strings.HasSuffix(f.File, "_test.go") {
			return siteKey{fn: f.Function, file: f.File, line: f.Line}, true
		}
		if !more {
			return siteKey{}, false
		}
	}
}

func debugGet(r *Ref, n int) {
	s := callerSite()
	d := lockRecord(r)
	if _, ok := d.gets[s]; !ok && len(d.gets) >= maxDebugSites {
		s = siteKey{fn: "(other sites)"}
	}
	d.gets[s] += int64(n)
	d.total += int64(n)
	d.mu.Unlock()
}

func debugTryGet(r *Ref, n int, ok bool) {
	if ok {
		debugGet(r, n)
	}
}

func debugPut(r *Ref, n int) {
	d := lockRecord(r)
	d.puts += int64(n)
	d.mu.Unlock()
}

// debugRelease runs once per life, before release.
func debugRelease(r *Ref) {
	s := callerSite()
	d := lockRecord(r)
	d.released, d.relSite = true, s
	d.mu.Unlock()
}

// misuseSites maps a reported *MisuseError to the site where its Ref was
// released. The error's fields are left exactly as without the tag (same Op,
// Count and Err), so code and tests that compare errors behave the same in
// both builds; its message gains "; Ref released at FILE:LINE".
var misuseSites sync.Map // weak.Pointer[MisuseError] -> string

// debugMisuse attaches the release site to a misuse found after release in
// the Ref's current life, for ReleaseSite. When no misuse handler is
// installed (handled is false), the misuse is about to panic, and the
// panic's message and stack name only the misusing call: debugMisuse first
// writes "percpuref: <error>: Ref released at FILE:LINE" to standard error,
// so that a crash log names both ends.
func debugMisuse(r *Ref, e *MisuseError, handled bool) {
	if r.cells.State.Load()&stReleased == 0 {
		return
	}
	d := lockRecord(r)
	released, s := d.released, d.relSite
	d.mu.Unlock()
	if !released {
		return
	}
	site := fmt.Sprintf("%s:%d", s.file, s.line)
	k := weak.Make(e)
	misuseSites.Store(k, site)
	runtime.AddCleanup(e, func(k weak.Pointer[MisuseError]) { misuseSites.Delete(k) }, k)
	if !handled {
		fmt.Fprintln(os.Stderr, e) // the message names the release site
	}
}

// ReleaseSite returns "FILE:LINE", the call site of the operation that ran
// release (the Put, PutMany, PutLocked or Kill that dropped the last
// reference) in the Ref's current life, if e was reported after that
// release; otherwise "". Without the percpurefdebug build tag it always
// returns "".
func (e *MisuseError) ReleaseSite() string {
	if s, ok := misuseSites.Load(weak.Make(e)); ok {
		return s.(string)
	}
	return ""
}

// Holders lists where the references that the Ref still holds were taken,
// as far as that can be known. It needs the percpurefdebug build tag;
// without it Holders returns nil.
//
// What it reports: if, in the Ref's current life, more references were
// taken by Get, GetMany and successful TryGet* calls than were dropped by
// Put, PutMany and PutLocked, Holders returns every call site that took
// references in this life, each with the number it took (Site.Gets),
// most first, ties by file and line. Otherwise it returns nil.
//
// Its limits: a Put cannot be matched to the Get it balances, so Holders
// cannot say which of the listed sites hold the outstanding references;
// the sites that do are among those listed (a superset), and the number
// outstanding is Σ Gets minus the Puts. The owner's initial reference
// (from New, Init or Reinit) has no site and is not counted, and neither
// is the reference Kill drops; a Put that drops the initial reference
// instead of Kill (as with InitAtomic) counts as a Put. Counts are per
// life: after release, and until the first operation following Reinit, it
// describes the life that ended. Beyond 64 distinct sites, the rest are
// counted under one Site whose Func is "(other sites)".
func (r *Ref) Holders() []Site {
	d := lockRecord(r)
	defer d.mu.Unlock()
	if d.total <= d.puts {
		return nil
	}
	out := make([]Site, 0, len(d.gets))
	for k, n := range d.gets {
		out = append(out, Site{Func: k.fn, File: k.file, Line: k.line, Gets: n})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Gets != b.Gets {
			return a.Gets > b.Gets
		}
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return out
}
