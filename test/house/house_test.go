// Package house_test holds the repository to the rules it keeps about itself
// (issue 12): no file in the tree over 10 MB, and no function of the verification
// lifecycle, internal/challenge, over 80 lines.
package house_test

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const (
	maxFileBytes = 10 << 20
	maxFuncLines = 80
)

// root is the repository's top directory.
func root(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func TestNoLargeFilesInTheTree(t *testing.T) {
	top := root(t)
	out, err := exec.Command("git", "-C", top, "ls-files", "-z", "--cached").Output()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, name := range bytes.Split(bytes.TrimRight(out, "\x00"), []byte{0}) {
		fi, err := os.Lstat(filepath.Join(top, string(name)))
		if err != nil {
			continue // deleted in the work tree, not yet committed
		}
		n++
		if fi.Size() > maxFileBytes {
			t.Errorf("%s is %d MB: build outputs and data do not belong in the tree", name, fi.Size()>>20)
		}
	}
	if n < 50 {
		t.Fatalf("only %d files listed: the check would prove nothing", n)
	}
}

func TestChallengeFunctionsAreShort(t *testing.T) {
	dir := filepath.Join(root(t), "internal", "challenge")
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	funcs := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			funcs++
			if n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1; n > maxFuncLines {
				t.Errorf("%s: %s is %d lines; split it by step (at most %d)", filepath.Base(name), fd.Name.Name, n, maxFuncLines)
			}
		}
	}
	if funcs < 50 {
		t.Fatalf("only %d functions found in %s", funcs, dir)
	}
}
