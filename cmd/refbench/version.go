package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
)

// A Version says what was measured: the module refbench was built from,
// and the commit, from the build's own record (runtime/debug.ReadBuildInfo)
// or, where the go command stamped none (go run, go test, a workspace
// build), from git, asked at run time about the source directory.
type Version struct {
	Module  string `json:"module"`  // path and version of refbench's module
	Library string `json:"library"` // version of github.com/percpuref/percpu, or "(devel)" where a replace or the workspace supplies it
	// Revision is the VCS revision; "" if unknown.
	Revision string `json:"revision,omitempty"`
	// Modified is set where tracked files differed from Revision.
	Modified bool `json:"modified,omitempty"`
	// From says where Revision came from: "build info", "git" or "".
	From string `json:"revision_from,omitempty"`
}

const libraryPath = "github.com/percpuref/percpu"

// buildVersion reads the build's record and, for the revision, falls back
// on git.
func buildVersion() Version {
	v := Version{Module: "unknown", Library: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.Module = bi.Main.Path + " " + bi.Main.Version
	if bi.Main.Path == libraryPath {
		v.Library = bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == libraryPath {
			v.Library = d.Version
			if d.Replace != nil {
				v.Library += " (replaced)"
			}
		}
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision, v.From = s.Value, "build info"
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	if v.Revision == "" {
		v.Revision, v.Modified = gitRevision()
		if v.Revision != "" {
			v.From = "git"
		}
	}
	return v
}

// gitRevision asks git for the commit checked out where this file was
// compiled from, and whether tracked files differ from it: right for go
// run and go test, which build from the sources they run; for an
// unstamped binary built earlier, it is the checkout's state now.
func gitRevision() (rev string, modified bool) {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return "", false // -trimpath: no source directory to ask about
	}
	dir := filepath.Dir(file)
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return "", false
	}
	rev = strings.TrimSpace(string(out))
	out, err = exec.Command("git", "-C", dir, "status", "--porcelain", "--untracked-files=no").Output()
	return rev, err == nil && len(strings.TrimSpace(string(out))) > 0
}

// Short is the revision as the bench format's commit key gives it: 12
// hex digits, +modified where tracked files differed; the module's
// version where there is no revision (a go install of a release).
func (v Version) Short() string {
	if v.Revision == "" {
		_, ver, _ := strings.Cut(v.Module, " ")
		if ver == "" || ver == "(devel)" {
			return "unknown"
		}
		return ver
	}
	s := v.Revision[:min(12, len(v.Revision))]
	if v.Modified {
		s += "+modified"
	}
	return s
}

// String says the module, the library's version and the commit, in a line.
func (v Version) String() string {
	s := v.Module + ", library " + v.Library
	switch v.From {
	case "":
		s += ", commit unknown"
	default:
		s += ", commit " + v.Revision
		if v.Modified {
			s += " with tracked files modified"
		}
		s += " (" + v.From + ")"
	}
	return s
}

// buildSettings returns the build settings that change what is measured,
// as the go command records them: -tags, -race, the architecture level,
// and CGO_ENABLED=0.
func buildSettings() []string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	var out []string
	for _, s := range bi.Settings {
		switch s.Key {
		case "-tags":
			out = append(out, "-tags="+s.Value)
		case "-race":
			if s.Value == "true" {
				out = append(out, "-race")
			}
		case "GOAMD64", "GOARM64", "GOARM", "GO386":
			out = append(out, s.Key+"="+s.Value)
		case "CGO_ENABLED":
			if s.Value == "0" {
				out = append(out, "CGO_ENABLED=0")
			}
		}
	}
	return out
}
