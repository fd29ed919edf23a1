//go:build !percpurefdebug

package percpuref

import "strconv"

// Without the percpurefdebug build tag the debug hooks are empty and are
// inlined away: a Ref pays nothing for the attribution mode. See
// debug_on.go for what the tag records.

// A Site is a place in the source where references to a Ref were taken. It
// is what Holders reports; see debug_on.go, built with the percpurefdebug
// tag. Without the tag Holders returns nil and no Site is ever made.
type Site struct {
	Func string // the package-qualified function
	File string // the file's full path
	Line int
	Gets int64 // references taken at this site in the Ref's current life
}

// String formats the site as "FILE:LINE FUNC (N gets)".
func (s Site) String() string {
	return s.File + ":" + strconv.Itoa(s.Line) + " " + s.Func + " (" + strconv.FormatInt(s.Gets, 10) + " gets)"
}

// Holders lists where the references a Ref still holds were taken. It
// needs the percpurefdebug build tag; without it Holders returns nil. See
// Holders in debug_on.go for what it reports and its limits.
func (r *Ref) Holders() []Site { return nil }

// ReleaseSite returns "FILE:LINE", the call site of the operation that ran
// release in the Ref's current life, if e was reported after that release.
// It needs the percpurefdebug build tag; without it ReleaseSite returns "".
func (e *MisuseError) ReleaseSite() string { return "" }

func debugGet(*Ref, int)                   {}
func debugPut(*Ref, int)                   {}
func debugTryGet(*Ref, int, bool)          {}
func debugRelease(*Ref)                    {}
func debugMisuse(*Ref, *MisuseError, bool) {}
