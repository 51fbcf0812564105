package main

import (
	"bytes"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update", false, "rewrite the settings tables of docs/configuration.md (make generate)")

const configDocPath = "../../docs/configuration.md"

// TestConfigurationDoc: the variable tables of docs/configuration.md are the
// settings table, row for row. `make generate` (this test with -update)
// rewrites them.
func TestConfigurationDoc(t *testing.T) {
	t.Parallel()
	md, err := os.ReadFile(configDocPath)
	if err != nil {
		t.Fatal(err)
	}
	got, err := updateConfigDoc(string(md))
	if err != nil {
		t.Fatalf("docs/configuration.md: %v", err)
	}
	if got == string(md) {
		return
	}
	if *updateDocs {
		if err := os.WriteFile(configDocPath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, want := strings.Split(string(md), "\n"), strings.Split(got, "\n")
	for i := range max(len(have), len(want)) {
		h, w := lineAt(have, i), lineAt(want, i)
		if h != w {
			t.Fatalf("docs/configuration.md disagrees with the settings table (cmd/authsvc/settings.go); run `make generate`.\n"+
				"first difference, line %d:\n have: %s\n want: %s", i+1, h, w)
		}
	}
}

func lineAt(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(end of file)"
}

// TestUpdateConfigDocMarkers: a marker the table does not know, a section of
// the table without its region, and an open region are refused, so that a
// new section cannot go undocumented.
func TestUpdateConfigDocMarkers(t *testing.T) {
	t.Parallel()
	md, err := os.ReadFile(configDocPath)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ md, want string }{
		"unknown section": {string(md) + "\n<!-- settings:nope -->\n<!-- end settings -->\n", "no setting has this section"},
		"missing section": {strings.Replace(string(md), "<!-- settings:grpc -->", "<!-- grpc -->", 1), `section "grpc"`},
		"open region":     {string(md[:bytes.LastIndex(md, []byte(docEndMark))]), "has no " + docEndMark},
		"twice":           {strings.Replace(string(md), "<!-- settings:log -->", "<!-- settings:grpc -->", 1), "appears twice"},
	} {
		if _, err := updateConfigDoc(tc.md); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, tc.want)
		}
	}
}

// TestSettingsTable checks the rows themselves: one row per name, each
// documented, and every default valid by its own kind, so that the docs'
// defaults are the ones in effect.
func TestSettingsTable(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, s := range allSettings() {
		if !regexp.MustCompile(`^AUTHSVC_[A-Z0-9_]*[A-Z0-9]$`).MatchString(s.Name) {
			t.Errorf("%q: not an AUTHSVC_* name", s.Name)
		}
		if seen[s.Name] {
			t.Errorf("%s: two rows", s.Name)
		}
		seen[s.Name] = true
		if s.Section == "" || s.Value == nil || !strings.HasSuffix(s.Doc, ".") {
			t.Errorf("%s: want a section, a value and a doc ending in a full stop", s.Name)
		}
		if s.Required != "" && s.Default != "" {
			t.Errorf("%s: required with a default", s.Name)
		}
		for _, def := range []string{s.Default, s.DevDefault} {
			if def == "" {
				continue
			}
			r := &envReader{getenv: func(string) string { return "" }}
			s.Value.set(r, s.Name, def)
			if len(r.problems) > 0 {
				t.Errorf("%s: default %q is refused: %v", s.Name, def, r.problems)
			}
		}
	}
}

// TestEveryVariableIsASetting: every AUTHSVC_* name the service's code quotes
// (but authctl's),
// and every one the Helm chart sets, is a row of the table, so that none is
// read past it (undocumented) and the chart sets none the service ignores.
func TestEveryVariableIsASetting(t *testing.T) {
	t.Parallel()
	// authctl's own variables, which the dev banner quotes.
	names := map[string]bool{"AUTHSVC_ADDR": true, "AUTHSVC_API_KEY": true}
	for _, s := range allSettings() {
		names[s.Name] = true
	}
	word := regexp.MustCompile(`\bAUTHSVC_[A-Z0-9_]*[A-Z0-9]\b`)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			v, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatalf("%s: %v", fset.Position(lit.Pos()), err)
			}
			for _, name := range word.FindAllString(v, -1) {
				if !names[name] {
					t.Errorf("%s: %s is not a row of the settings table (settings.go)", fset.Position(lit.Pos()), name)
				}
			}
			return true
		})
	}
	chartEnv := regexp.MustCompile(`name:\s*(AUTHSVC_[A-Z0-9_]+)`)
	templates, err := filepath.Glob("../../deploy/helm/authsvc/templates/*")
	if err != nil || len(templates) == 0 {
		t.Fatalf("chart templates: %v", err)
	}
	var chart []string
	for _, path := range templates {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range chartEnv.FindAllStringSubmatch(string(b), -1) {
			chart = append(chart, m[1])
			if !names[m[1]] {
				t.Errorf("%s sets %s, which is not a setting", filepath.Base(path), m[1])
			}
		}
	}
	if !slices.Contains(chart, "AUTHSVC_REDIS_URL") {
		t.Errorf("found no AUTHSVC_REDIS_URL in the chart: %v", chart)
	}
}
