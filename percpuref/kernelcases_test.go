package percpuref

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The list of kernel edge cases in docs/semantics.md names, for each case,
// the tests that follow it, and each of those tests names its case in its
// doc comment. The two must agree: every case has a test, every test the
// list names exists and cites the case, and every test that cites a case is
// in the list under it.
func TestKernelEdgeCasesAreCited(t *testing.T) {
	doc, err := os.ReadFile("../docs/semantics.md")
	if err != nil {
		t.Fatal(err)
	}
	listed := kernelCasesOfDoc(t, string(doc))
	if len(listed) == 0 {
		t.Fatal(`docs/semantics.md has no "Kernel edge cases the tests follow" list`)
	}
	cited := kernelCasesOfTests(t)

	for id, tests := range listed {
		if len(tests) == 0 {
			t.Errorf("case %s: the list names no test", id)
		}
		for _, name := range tests {
			ids, ok := cited[name]
			switch {
			case !ok:
				t.Errorf("case %s: the list names %s, which is not a test of this package", id, name)
			case !ids[id]:
				t.Errorf("case %s: %s does not cite it (Kernel edge case `%s` in its doc comment)", id, name, id)
			}
		}
	}
	for name, ids := range cited {
		for id := range ids {
			if !slices.Contains(listed[id], name) {
				t.Errorf("%s cites case %s, but the list in docs/semantics.md does not name it there", name, id)
			}
		}
	}
}

var (
	kernelCaseItem  = regexp.MustCompile("(?m)^- \\*\\*`([a-z0-9-]+)`\\*\\*")
	kernelCaseTests = regexp.MustCompile("Tests:((?:\\s*`Test[A-Za-z0-9_]+`,?)+)")
	kernelCaseTest  = regexp.MustCompile("`(Test[A-Za-z0-9_]+)`")
	kernelCaseCite  = regexp.MustCompile("Kernel\\s+edge\\s+case\\s+`([a-z0-9-]+)`")
)

// kernelCasesOfDoc returns the cases of doc's list, each with the tests it
// names.
func kernelCasesOfDoc(t *testing.T, doc string) map[string][]string {
	const heading = "\n## Kernel edge cases the tests follow\n"
	i := strings.Index(doc, heading)
	if i < 0 {
		return nil
	}
	section := doc[i+len(heading):]
	if j := strings.Index(section, "\n## "); j >= 0 {
		section = section[:j]
	}
	cases := map[string][]string{}
	items := kernelCaseItem.FindAllStringSubmatchIndex(section, -1)
	for k, m := range items {
		id := section[m[2]:m[3]]
		end := len(section)
		if k+1 < len(items) {
			end = items[k+1][0]
		}
		if _, dup := cases[id]; dup {
			t.Errorf("case %s is listed twice", id)
		}
		cases[id] = []string{}
		tm := kernelCaseTests.FindStringSubmatch(section[m[0]:end])
		if tm == nil {
			continue
		}
		for _, n := range kernelCaseTest.FindAllStringSubmatch(tm[1], -1) {
			cases[id] = append(cases[id], n[1])
		}
	}
	return cases
}

// kernelCasesOfTests returns every test function of the package's test
// files, whatever their build tags, with the cases its doc comment cites.
func kernelCasesOfTests(t *testing.T) map[string]map[string]bool {
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]map[string]bool{}
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Test") {
				continue
			}
			ids := map[string]bool{}
			if fn.Doc != nil {
				for _, m := range kernelCaseCite.FindAllStringSubmatch(fn.Doc.Text(), -1) {
					ids[m[1]] = true
				}
			}
			tests[fn.Name.Name] = ids
		}
	}
	return tests
}
