package actors

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestErrors_TableIsComplete walks the error table: every Err variable of the package is declared
// through it (so it has a reason and a class), reasons are unique names, and each reason names its
// error back. A sentinel added with errors.New, or without a class, fails here.
func TestErrors_TableIsComplete(t *testing.T) {
	declared := sentinelDecls(t)
	if len(declared) == 0 {
		t.Fatal("no Err variables found")
	}
	for name, how := range declared {
		if how != "declare" && how != "narrow" {
			t.Errorf("%s is declared by %s, not through the table (declare or narrow)", name, how)
		}
	}
	// The table holds exactly the variables declared through it.
	if len(Errors) != len(declared) {
		t.Errorf("table has %d entries, the package declares %d error variables", len(Errors), len(declared))
	}
	seen := map[string]bool{}
	valid := regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)
	for _, e := range Errors {
		switch {
		case !valid.MatchString(e.Reason()):
			t.Errorf("%q: a reason is lower-case words joined by underscores", e.Reason())
		case seen[e.Reason()]:
			t.Errorf("%q: reason declared twice", e.Reason())
		case e.Class() == 0 || strings.HasPrefix(e.Class().String(), "class("):
			t.Errorf("%q: no class", e.Reason())
		}
		seen[e.Reason()] = true
		back := ByReason(e.Reason())
		if back == nil || Lookup(fmt.Errorf("wrapped: %w", back)) != e {
			t.Errorf("%q: the reason does not name its error back (%v)", e.Reason(), back)
		}
	}
}

var sentinelName = regexp.MustCompile(`^(Err|err)[A-Z]`)

// sentinelDecls maps each package-level variable named Err* or err* of a non-test file to the
// function its value is made by.
func sentinelDecls(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if !sentinelName.MatchString(n.Name) {
						continue
					}
					out[n.Name] = "no value"
					if i < len(vs.Values) {
						out[n.Name] = maker(vs.Values[i])
					}
				}
			}
		}
	}
	return out
}

func maker(v ast.Expr) string {
	c, ok := v.(*ast.CallExpr)
	if !ok {
		return "an expression"
	}
	switch f := c.Fun.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		return f.Sel.Name
	}
	return "a call"
}

// TestErrors_Lookup: the most specific typed error an error wraps names it, a card's refusal is
// ErrCardNotUsable, the context errors have their own entries, and other errors have none.
func TestErrors_Lookup(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("gift: %w", ErrImageTooLarge), "image_too_large"},
		{fmt.Errorf("x: %w", ErrInvalidArgument), "invalid_argument"},
		{&CardError{}, "card_not_usable"},
		{fmt.Errorf("call: %w", context.DeadlineExceeded), "deadline_exceeded"},
		{context.Canceled, "canceled"},
		{fmt.Errorf("%w: %w", ErrEngineStopped, errors.New("disk full")), "engine_stopped"},
	}
	for _, c := range cases {
		got := Lookup(c.err)
		if got == nil || got.Reason() != c.want {
			t.Errorf("Lookup(%v) = %v, want %s", c.err, got, c.want)
		}
	}
	if got := Lookup(errors.New("disk on fire")); got != nil {
		t.Errorf("an operating error looked up as %s", got.Reason())
	}
	if !errors.Is(ErrNotContact, ErrPermissionDenied) || !errors.Is(&CardError{}, ErrCardNotUsable) {
		t.Error("a narrower error does not match its broader one")
	}
	if got, want := ErrNotContact.Error(), "permission denied: not a contact"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}
