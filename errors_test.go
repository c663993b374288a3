package kaquan

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strings"
	"testing"

	"github.com/kaquan/kaquan/actors"
)

// TestErrors_EverySentinelReExported: each typed error of the table is re-exported here under its
// own name, so a caller never needs package actors.
func TestErrors_EverySentinelReExported(t *testing.T) {
	exported := func(file, pkg string) []string {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.VAR {
				for _, s := range g.Specs {
					vs := s.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if !strings.HasPrefix(n.Name, "Err") || n.Name == "Errors" {
							continue
						}
						if pkg != "" { // a re-export names the same variable of pkg
							sel, ok := vs.Values[i].(*ast.SelectorExpr)
							if !ok || sel.X.(*ast.Ident).Name != pkg || sel.Sel.Name != n.Name {
								t.Errorf("%s is not %s.%s", n.Name, pkg, n.Name)
							}
						}
						names = append(names, n.Name)
					}
				}
			}
		}
		slices.Sort(names)
		return names
	}
	declared, reexported := exported("actors/errors.go", ""), exported("errors.go", "actors")
	if !slices.Equal(declared, reexported) {
		t.Errorf("actors declares %v\nkaquan re-exports %v", declared, reexported)
	}
}

// TestErrors_ReasonAndClass: a wrapped error is named by the most specific typed error in it, with
// that error's class; a name turns back into the error.
func TestErrors_ReasonAndClass(t *testing.T) {
	err := fmt.Errorf("gift: %w", ErrImageTooLarge)
	if got := Reason(err); got != "image_too_large" {
		t.Errorf("reason %q", got)
	}
	if c, ok := Class(err); !ok || c != ClassInvalid {
		t.Errorf("class %v %v", c, ok)
	}
	if c, ok := Class(&CardError{}); !ok || c != ClassPrecondition {
		t.Errorf("card error class %v %v", c, ok)
	}
	if _, ok := Class(errors.New("disk on fire")); ok || Reason(errors.New("x")) != "other" || Reason(nil) != "" {
		t.Error("an operating error has a class or a reason")
	}
	for _, name := range Reasons() {
		if Reason(fmt.Errorf("x: %w", ReasonError(name))) != name {
			t.Errorf("%s does not round-trip", name)
		}
	}
	if len(Reasons()) != len(actors.Errors) {
		t.Errorf("%d reasons for %d table entries", len(Reasons()), len(actors.Errors))
	}
}
