package percpu

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exported returns the exported top-level names (types, functions, methods
// as Type.Method, constants and variables) of the package in dir, without
// its tests, and the text of every exported function's signature.
func exported(t *testing.T, dir string) (names []string, signatures map[string]string) {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	signatures = map[string]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		text, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, d := range file.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				name := d.Name.Name
				if d.Recv != nil {
					recv := d.Recv.List[0].Type
					if s, ok := recv.(*ast.StarExpr); ok {
						recv = s.X
					}
					if ix, ok := recv.(*ast.IndexExpr); ok {
						recv = ix.X
					}
					id, ok := recv.(*ast.Ident)
					if !ok || !id.IsExported() {
						continue
					}
					name = id.Name + "." + name
				}
				names = append(names, name)
				pos, end := fset.Position(d.Type.Pos()).Offset, fset.Position(d.Type.End()).Offset
				signatures[name] = string(text[pos:end])
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							names = append(names, s.Name.Name)
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								names = append(names, n.Name)
							}
						}
					}
				}
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), signatures
}

// TestPublicAPICannotWriteMemory pins what the module exports: the root
// package and shard export exactly the names below, and no exported
// function of percpuref takes or returns a raw address. The per-P cells,
// their updates and the slot arena stay internal, because a caller who
// could describe cells could make an update write anywhere.
func TestPublicAPICannotWriteMemory(t *testing.T) {
	root, _ := exported(t, ".")
	assert.Equal(t, []string{"CacheLinePad", "CacheLineSize", "FastPath", "FastPathReason", "Hint"}, root,
		"package percpu's exported names")
	shard, _ := exported(t, "shard")
	assert.Equal(t, []string{"Counter", "Counter.Add", "Counter.Load", "Counter.Reset", "Counter.Swap",
		"DefaultCells", "MaxCells", "NewCounter"}, shard, "package shard's exported names")
	names, sigs := exported(t, "percpuref")
	require.Contains(t, names, "Ref.Get")
	for name, sig := range sigs {
		for _, raw := range []string{"unsafe.", "uintptr", "atomic.", "cells.", "slots."} {
			assert.NotContains(t, sig, raw, "percpuref.%s exposes a raw address or cell: %s", name, sig)
		}
	}
}
