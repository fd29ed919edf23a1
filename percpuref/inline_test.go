package percpuref

import (
	"bufio"
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestInlining fails when a fast path stops inlining, as the Go toolchain's
// cmd/compile/internal/test/inl_test.go does for sync.Mutex.Lock: it builds
// the package with -gcflags=-m=2 and reads the compiler's decisions. A
// change to the code or to the compiler that costs a fast path a frame then
// fails here, not only in a benchmark that nobody runs.
//
// What must inline, and why (count.go, "The per-CPU dispatch", says why a
// frame matters):
//
//   - Get, Put, TryGet, TryGetLive and GetUnlessZero: each must inline into
//     its caller, and its inlined body must call getFast, putFast,
//     tryGetFast or tryGetLiveFast, so that the caller reaches the fast path
//     in one call: the assembly of fast_amd64.s, with no Go frame, or, in
//     the other builds, get, put and tryGet, into which getFast and the rest
//     must inline. Each inlines its debug hook, which must vanish (debugGet,
//     debugPut, debugTryGet).
//   - exclusive, the exclusive protocol's update: it must inline into every
//     operation that counts per-CPU (get, put, tryGet, GetMany, PutMany,
//     PutLocked, TryGetMany), so that the operation calls the assembly of
//     fastpath.UpdateLocal directly.
//   - usable and atomicValid, the central path's checks, into the central
//     paths that get, put and the *Central functions take in atomic mode;
//     biased and isLive, the range checks.
//
// It checks three builds, whatever the test binary's own: the host's
// linux/amd64 build with the assembly, -tags purego (the generic path) and
// linux/arm64. The percpurefdebug build is left out on purpose: its hooks
// record callers and are not meant to vanish.
func TestInlining(t *testing.T) {
	goCmd := goCommand(t)
	funcs := funcRanges(t)
	builds := []struct {
		name, goarch, tags string
		asm                bool // Get, Put, TryGet, TryGetLive are fast_amd64.s
	}{
		{"amd64", "amd64", "", true},
		{"amd64-purego", "amd64", "purego", false},
		{"arm64", "arm64", "", false},
	}
	for _, b := range builds {
		t.Run(b.name, func(t *testing.T) {
			args := []string{"build", "-gcflags=-m=2", "-o", os.DevNull}
			if b.tags != "" {
				args = append(args, "-tags="+b.tags)
			}
			cmd := exec.Command(goCmd, append(args, ".")...)
			cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+b.goarch, "GOFLAGS=")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			d := parseInlining(t, out, funcs)

			canInline := []string{
				"(*Ref).Get", "(*Ref).Put", "(*Ref).TryGet", "(*Ref).TryGetLive", "(*Ref).GetUnlessZero",
				"(*Ref).exclusive", "usable", "atomicValid", "biased", "isLive",
				"debugGet", "debugPut", "debugTryGet",
			}
			inlined := map[string][]string{ // function: the calls that must be inlined in it
				"(*Ref).Get":              {"debugGet"},
				"(*Ref).Put":              {"debugPut"},
				"(*Ref).TryGet":           {"debugTryGet"},
				"(*Ref).TryGetLive":       {"debugTryGet"},
				"(*Ref).GetUnlessZero":    {"(*Ref).TryGet"},
				"(*Ref).get":              {"(*Ref).exclusive", "usable"},
				"(*Ref).put":              {"(*Ref).exclusive", "usable", "atomicValid"},
				"(*Ref).tryGet":           {"(*Ref).exclusive"},
				"(*Ref).GetMany":          {"(*Ref).exclusive"},
				"(*Ref).PutMany":          {"(*Ref).exclusive"},
				"(*Ref).PutLocked":        {"(*Ref).exclusive"},
				"(*Ref).TryGetMany":       {"(*Ref).exclusive"},
				"(*Ref).getCentral":       {"usable"},
				"(*Ref).putCentral":       {"usable", "atomicValid"},
				"(*Ref).tryGetCentral":    {"usable", "biased"},
				"(*Ref).putLockedCentral": {"usable", "biased"},
			}
			if !b.asm {
				canInline = append(canInline, "getFast", "putFast", "tryGetFast", "tryGetLiveFast")
				inlined["(*Ref).Get"] = append(inlined["(*Ref).Get"], "getFast")
				inlined["(*Ref).Put"] = append(inlined["(*Ref).Put"], "putFast")
				inlined["(*Ref).TryGet"] = append(inlined["(*Ref).TryGet"], "tryGetFast")
				inlined["(*Ref).TryGetLive"] = append(inlined["(*Ref).TryGetLive"], "tryGetLiveFast")
			}
			bodies := map[string]string{ // function: the call its inlined body must make
				"(*Ref).Get": "getFast(r)", "(*Ref).Put": "putFast(r)",
				"(*Ref).TryGet": "tryGetFast(r)", "(*Ref).TryGetLive": "tryGetLiveFast(r)",
			}
			for _, f := range slices.Sorted(maps.Keys(bodies)) {
				if body, ok := d.body[f]; ok && !strings.Contains(body, bodies[f]) {
					t.Errorf("%s inlines as %s, which does not call %s", f, body, bodies[f])
				}
			}
			for _, f := range canInline {
				if reason, ok := d.cannot[f]; ok {
					t.Errorf("%s no longer inlines: %s", f, reason)
				} else if !d.can[f] {
					t.Errorf("the compiler said nothing about inlining %s (renamed? update this test)", f)
				}
			}
			for _, f := range slices.Sorted(maps.Keys(inlined)) {
				calls := inlined[f]
				if _, ok := funcs.decl[f]; !ok {
					t.Errorf("no function %s in the package (renamed? update this test)", f)
					continue
				}
				for _, c := range calls {
					if !d.inlinedIn[f][c] {
						t.Errorf("%s does not inline its call to %s", f, c)
					}
				}
			}
		})
	}
}

// goCommand returns the go command that built this test, or skips the test
// if there is none.
func goCommand(t *testing.T) string {
	if root := os.Getenv("GOROOT"); root != "" { // go test sets it for the test binary
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			return p
		}
	}
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build the package with -gcflags=-m (GOROOT unset, go not on PATH): %v", err)
	}
	return p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// funcs maps a source position to the function declared there: the
// compiler names a call site by file and line, and the test by function.
type funcs struct {
	decl  map[string]bool // "(*Ref).Get", "usable"
	lines map[string][]funcLines
}

type funcLines struct {
	name        string
	first, last int
}

// funcRanges parses the package's Go files (every build's, tests left out)
// and records the lines of each top-level function.
func funcRanges(t *testing.T) funcs {
	fs := funcs{decl: map[string]bool{}, lines: map[string][]funcLines{}}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			n := fd.Name.Name
			if fd.Recv != nil && len(fd.Recv.List) == 1 {
				typ := fd.Recv.List[0].Type
				star := ""
				if s, ok := typ.(*ast.StarExpr); ok {
					star, typ = "*", s.X
				}
				if id, ok := typ.(*ast.Ident); ok {
					n = "(" + star + id.Name + ")." + n
				}
			}
			fs.decl[n] = true
			fs.lines[name] = append(fs.lines[name], funcLines{n, fset.Position(fd.Pos()).Line, fset.Position(fd.End()).Line})
		}
	}
	return fs
}

// enclosing returns the function whose body holds line of file, or "".
func (fs funcs) enclosing(file string, line int) string {
	for _, f := range fs.lines[filepath.Base(file)] {
		if f.first <= line && line <= f.last {
			return f.name
		}
	}
	return ""
}

// decisions are the compiler's inlining decisions for the package.
type decisions struct {
	can       map[string]bool            // "can inline F"
	body      map[string]string          // "can inline F with cost N as: BODY"
	cannot    map[string]string          // "cannot inline F: reason"
	inlinedIn map[string]map[string]bool // function: calls inlined in it
}

// An -m=2 line: "./count.go:145:6: can inline (*Ref).Get with cost 64 as: …",
// "./count.go:147:10: inlining call to debugGet …" or
// "./count.go:91:6: cannot inline (*Ref).fetchAddOrLazy: function too complex: …".
var inlineLine = regexp.MustCompile(`^(\S+\.go):(\d+):\d+: (can inline|cannot inline|inlining call to) ([^ :]+)(.*)$`)

func parseInlining(t *testing.T, out []byte, fs funcs) decisions {
	d := decisions{can: map[string]bool{}, body: map[string]string{}, cannot: map[string]string{}, inlinedIn: map[string]map[string]bool{}}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		m := inlineLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		line, _ := strconv.Atoi(m[2])
		switch name := m[4]; m[3] {
		case "can inline":
			d.can[name] = true
			if _, body, ok := strings.Cut(m[5], " as: "); ok {
				d.body[name] = body
			}
		case "cannot inline":
			d.cannot[name] = strings.TrimPrefix(m[5], ": ")
		case "inlining call to":
			if f := fs.enclosing(m[1], line); f != "" {
				if d.inlinedIn[f] == nil {
					d.inlinedIn[f] = map[string]bool{}
				}
				d.inlinedIn[f][name] = true
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(d.can) == 0 {
		t.Fatalf("no inlining decisions in the compiler's output:\n%s", out)
	}
	return d
}
