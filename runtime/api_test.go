package runtime

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// lattigoIn lists the Lattigo types that expr names, through the imports
// of the file it is in.
func lattigoIn(expr ast.Node, imports map[string]string) []string {
	var found []string
	ast.Inspect(expr, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if pkg, ok := sel.X.(*ast.Ident); ok && strings.HasPrefix(imports[pkg.Name], "github.com/tuneinsight/lattigo") {
			found = append(found, pkg.Name+"."+sel.Sel.Name)
		}
		return true
	})
	return found
}

// exportedLattigo lists, for each exported identifier of the Go source
// files in dir, the Lattigo types its signature, fields or methods name.
func exportedLattigo(t *testing.T, dir string) map[string][]string {
	t.Helper()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, dir, func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	leaks := map[string][]string{}
	for _, pkg := range pkgs {
		for _, file := range pkg.Files {
			imports := map[string]string{}
			for _, im := range file.Imports {
				path, _ := strconv.Unquote(im.Path.Value)
				name := path[strings.LastIndex(path, "/")+1:]
				if im.Name != nil {
					name = im.Name.Name
				}
				imports[name] = path
			}
			note := func(id string, n ast.Node) {
				if l := lattigoIn(n, imports); len(l) > 0 {
					leaks[id] = append(leaks[id], l...)
				}
			}
			for _, decl := range file.Decls {
				switch d := decl.(type) {
				case *ast.FuncDecl:
					if !d.Name.IsExported() {
						continue
					}
					id := d.Name.Name
					if d.Recv != nil {
						recv := d.Recv.List[0].Type
						if star, ok := recv.(*ast.StarExpr); ok {
							recv = star.X
						}
						if r, ok := recv.(*ast.Ident); !ok || !r.IsExported() {
							continue
						}
						id = recv.(*ast.Ident).Name + "." + id
					}
					note(id, d.Type)
				case *ast.GenDecl:
					for _, spec := range d.Specs {
						switch s := spec.(type) {
						case *ast.TypeSpec:
							if !s.Name.IsExported() {
								continue
							}
							var fields *ast.FieldList // of which only the exported matter
							switch ty := s.Type.(type) {
							case *ast.StructType:
								fields = ty.Fields
							case *ast.InterfaceType:
								fields = ty.Methods
							default:
								note(s.Name.Name, s.Type)
								continue
							}
							for _, f := range fields.List {
								exported := len(f.Names) == 0 // embedded: promotes its methods
								for _, n := range f.Names {
									exported = exported || n.IsExported()
								}
								if exported {
									note(s.Name.Name, f.Type)
								}
							}
						case *ast.ValueSpec:
							for _, n := range s.Names {
								if n.IsExported() {
									if s.Type != nil {
										note(n.Name, s.Type)
									}
									for _, v := range s.Values {
										note(n.Name, v)
									}
								}
							}
						}
					}
				}
			}
		}
	}
	return leaks
}

// The exported API takes and returns hecc's types only: a caller never
// imports Lattigo, and the Lattigo version can change under it.
func TestAPIHidesLattigo(t *testing.T) {
	for id, types := range exportedLattigo(t, ".") {
		t.Errorf("exported %s mentions %s", id, strings.Join(types, ", "))
	}
}

// The check finds what it looks for: a leaking declaration is reported.
func TestAPICheckFindsLeaks(t *testing.T) {
	dir := t.TempDir()
	src := `package leak

import (
	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	hf "github.com/tuneinsight/lattigo/v5/he/hefloat"
)

type Hidden struct{ ct *rlwe.Ciphertext }
type Keys struct{ Secret *rlwe.SecretKey }
type server struct{}
type Key interface{ key() *rlwe.SecretKey }
type Evaluator interface{ Eval() *rlwe.Ciphertext }

func Params() (hf.Parameters, error)      { return hf.Parameters{}, nil }
func (Hidden) Run(in []*rlwe.Ciphertext)  {}
func (server) Run(in []*rlwe.Ciphertext)  {}
func unexported(sk *rlwe.SecretKey)       {}
`
	if err := os.WriteFile(dir+"/leak.go", []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	leaks := exportedLattigo(t, dir)
	for _, want := range []string{"Keys", "Params", "Hidden.Run", "Evaluator"} {
		if len(leaks[want]) == 0 {
			t.Errorf("%s not reported: %v", want, leaks)
		}
	}
	if len(leaks) != 4 {
		t.Errorf("reported %v, expected Keys, Params, Hidden.Run and Evaluator only", leaks)
	}
}
