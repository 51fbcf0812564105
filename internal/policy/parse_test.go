package policy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const goodFile = `data_classes:
  - data_class: order_status
    description: Status of an order
    min_level: low
    max_age: 30m
    channels: [dm, phone]
  - data_class: loyalty_points
    description: "Points balance"
    min_level: substantial
    max_age: 90s
    channels:
      - secure_channel
`

func TestParseGood(t *testing.T) {
	t.Parallel()
	p, err := Parse([]byte(goodFile), "good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rules := p.Rules()
	if len(rules) != 2 || rules[0].DataClass != "order_status" || rules[1].DataClass != "loyalty_points" {
		t.Fatalf("rules %+v", rules)
	}
	if r := rules[1]; r.MaxAge != 90*time.Second || len(r.Channels) != 1 || r.Channels[0] != SecureChannel || r.Description != "Points balance" {
		t.Errorf("loyalty_points = %+v", r)
	}
	if _, ok := p.Rule("shipping_address"); ok {
		t.Error("a class of the default policy leaked into a parsed one")
	}
}

// problemsOf parses data and returns its problems as "LINE: message" strings.
func problemsOf(t *testing.T, data string) []string {
	t.Helper()
	_, err := Parse([]byte(data), "p.yaml")
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("Parse error = %v, want a *ParseError", err)
	}
	if pe.File != "p.yaml" || !strings.HasPrefix(err.Error(), "invalid disclosure policy p.yaml:") {
		t.Errorf("error does not name the file: %v", err)
	}
	var out []string
	for _, p := range pe.Problems {
		out = append(out, fmt.Sprintf("%d: %s", p.Line, p.Message))
	}
	return out
}

func TestParseProblemsNameTheLine(t *testing.T) {
	t.Parallel()
	const rule = "    description: d\n    min_level: low\n    max_age: 5m\n    channels: [dm]\n"
	tests := []struct {
		name string
		data string
		want []string // each a substring of one problem, in order
	}{
		{"unknown level", "data_classes:\n  - data_class: a\n    description: d\n    min_level: medium\n    max_age: 5m\n    channels: [dm]\n",
			[]string{`4: data class a: min_level: unknown level "medium"`}},
		{"unknown channel", "data_classes:\n  - data_class: a\n    description: d\n    min_level: low\n    max_age: 5m\n    channels: [dm, email]\n",
			[]string{`6: data class a: unknown channel "email"`}},
		{"public reply", "data_classes:\n  - data_class: a\n    description: d\n    min_level: low\n    max_age: 5m\n    channels:\n      - dm\n      - public_reply\n",
			[]string{"8: data class a: public_reply is never allowed"}},
		{"duplicate channel", "data_classes:\n  - data_class: a\n    description: d\n    min_level: low\n    max_age: 5m\n    channels: [dm, dm]\n",
			[]string{"6: data class a: channel dm listed twice"}},
		{"duplicate data class", "data_classes:\n  - data_class: a\n" + rule + "  - data_class: a\n" + rule,
			[]string{`7: data_class "a" is already defined on line 2`}},
		{"zero max age", "data_classes:\n  - data_class: a\n    description: d\n    min_level: low\n    max_age: 0s\n    channels: [dm]\n",
			[]string{"5: data class a: max_age must be positive"}},
		{"negative max age", "data_classes:\n  - data_class: a\n    description: d\n    min_level: low\n    max_age: -5m\n    channels: [dm]\n",
			[]string{"5: data class a: max_age must be positive"}},
		{"max age over a day", "data_classes:\n  - data_class: a\n    description: d\n    min_level: low\n    max_age: 25h\n    channels: [dm]\n",
			[]string{"5: data class a: max_age must be at most 24h"}},
		{"max age not a duration", "data_classes:\n  - data_class: a\n    description: d\n    min_level: low\n    max_age: 900\n    channels: [dm]\n",
			[]string{`5: data class a: max_age "900": want a duration`}},
		{"max age fraction", "data_classes:\n  - data_class: a\n    description: d\n    min_level: low\n    max_age: 1500ms\n    channels: [dm]\n",
			[]string{"5: data class a: max_age must be whole seconds"}},
		{"bad data class name", "data_classes:\n  - data_class: Shipping-Address\n" + rule,
			[]string{`2: data_class "Shipping-Address": want a lower-case name`}},
		{"data class too long", "data_classes:\n  - data_class: a" + strings.Repeat("b", 64) + "\n" + rule,
			[]string{"2: data_class"}},
		{"unknown key in a class", "data_classes:\n  - data_class: a\n    visibility: all\n" + rule,
			[]string{`3: data class: unknown key "visibility"`}},
		{"unknown top-level key", "version: 2\ndata_classes:\n  - data_class: a\n" + rule,
			[]string{`1: policy: unknown key "version"`}},
		{"key twice", "data_classes:\n  - data_class: a\n    min_level: high\n" + rule,
			[]string{"5: data class: min_level given twice"}},
		{"missing keys", "data_classes:\n  - data_class: a\n    description: d\n",
			[]string{"2: data class: min_level is missing", "2: data class: max_age is missing", "2: data class: channels is missing"}},
		{"description with a direction override", "data_classes:\n  - data_class: a\n    description: \"Order \\u202Estatus\"\n    min_level: low\n    max_age: 5m\n    channels: [dm]\n",
			[]string{"3: data class a: description must not contain U+202E, a bidirectional control character"}},
		{"description with a zero-width space", "data_classes:\n  - data_class: a\n    description: \"Order\u200bstatus\"\n    min_level: low\n    max_age: 5m\n    channels: [dm]\n",
			[]string{"3: data class a: description must not contain U+200B, an invisible formatting character"}},
		{"empty description", "data_classes:\n  - data_class: a\n    description:\n    min_level: low\n    max_age: 5m\n    channels: [dm]\n",
			[]string{"3: data class a: description is empty"}},
		{"empty channels", "data_classes:\n  - data_class: a\n    description: d\n    min_level: low\n    max_age: 5m\n    channels: []\n",
			[]string{"6: data class a: channels: the list is empty"}},
		{"channels not a list", "data_classes:\n  - data_class: a\n    description: d\n    min_level: low\n    max_age: 5m\n    channels: dm\n",
			[]string{"6: data class a: channels: want a list"}},
		{"class not a mapping", "data_classes:\n  - order_status\n", []string{"2: data class: want a mapping"}},
		{"no data_classes", "classes: []\n", []string{`1: policy: unknown key "classes"`, "1: policy: data_classes is missing"}},
		{"empty list", "data_classes: []\n", []string{"1: data_classes: the list is empty"}},
		{"top level a list", "- data_class: a\n", []string{"1: policy: want a mapping"}},
		{"empty file", "", []string{"0: empty"}},
		{"only comments", "# nothing\n", []string{"0: empty"}},
		{"syntax error", "data_classes:\n  - data_class: a\n   description: [\n", []string{"YAML syntax"}},
		{"two documents", "data_classes:\n  - data_class: a\n" + rule + "---\nfoo: 1\n", []string{"only one YAML document"}},
		{"alias", "x: &c\n  - dm\ndata_classes:\n  - data_class: a\n    description: d\n    min_level: low\n    max_age: 5m\n    channels: *c\n",
			[]string{`1: policy: unknown key "x"`, "8: data class a: channels: want a list"}},
		{"every problem at once", "data_classes:\n  - data_class: a\n    description: d\n    min_level: ultra\n    max_age: 48h\n    channels: [fax]\n  - data_class: B\n" + rule,
			[]string{"4: data class a: min_level", "5: data class a: max_age", `6: data class a: unknown channel "fax"`, `7: data_class "B"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := problemsOf(t, tt.data)
			if len(got) != len(tt.want) {
				t.Fatalf("problems:\n  %s\nwant %d like:\n  %s", strings.Join(got, "\n  "), len(tt.want), strings.Join(tt.want, "\n  "))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	t.Parallel()
	if got := problemsOf(t, strings.Repeat("#", MaxFileSize+1)); len(got) != 1 || !strings.Contains(got[0], "larger than") {
		t.Errorf("oversized: %v", got)
	}
	if got := problemsOf(t, "data_classes: \xff\n"); len(got) != 1 || !strings.Contains(got[0], "UTF-8") {
		t.Errorf("not UTF-8: %v", got)
	}
	var b strings.Builder
	b.WriteString("data_classes:\n")
	for i := range MaxDataClasses + 1 {
		fmt.Fprintf(&b, "  - {data_class: c%d, description: d, min_level: low, max_age: 1m, channels: [dm]}\n", i)
	}
	if got := problemsOf(t, b.String()); len(got) != 1 || !strings.Contains(got[0], "at most 256 data classes") {
		t.Errorf("too many classes: %v", got)
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte(goodFile), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(strings.Replace(goodFile, "max_age: 90s", "max_age: forever", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if p, err := LoadFile(good); err != nil || len(p.Rules()) != 2 {
		t.Errorf("LoadFile(good) = %v", err)
	}
	_, err := LoadFile(bad)
	if err == nil || !strings.Contains(err.Error(), bad+":10: data class loyalty_points: max_age") {
		t.Errorf("LoadFile(bad) = %v, want the path and line 10", err)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.yaml")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadFile(missing) = %v", err)
	}
}
