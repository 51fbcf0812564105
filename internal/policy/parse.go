package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/text"
)

// Limits of a policy file.
const (
	// MaxFileSize is the largest policy file Parse and LoadFile read, in bytes.
	MaxFileSize = 256 << 10
	// MaxDataClasses is the most data classes a policy may name.
	MaxDataClasses = 256
	// MaxDescription is the longest description, in bytes.
	MaxDescription = 200
	// MaxMaxAge is the largest max_age.
	MaxMaxAge = 24 * time.Hour
)

var dataClassPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Problem is one thing wrong with a policy file.
type Problem struct {
	// Line is the 1-based line of the file the problem is on; 0 when it is about
	// the file as a whole.
	Line int
	// Message says what is wrong and what would be right.
	Message string
}

// ParseError lists every problem found in a policy file.
type ParseError struct {
	// File is the name the file was parsed under (its path).
	File string
	// Problems are in the order of the file.
	Problems []Problem
}

// Error names the file and, for each problem, the line to fix:
//
//	invalid disclosure policy policy.yaml:
//	  - policy.yaml:12: min_level: unknown level "medium" (want low, substantial or high)
func (e *ParseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid disclosure policy %s:", e.File)
	for _, p := range e.Problems {
		if p.Line > 0 {
			fmt.Fprintf(&b, "\n  - %s:%d: %s", e.File, p.Line, p.Message)
		} else {
			fmt.Fprintf(&b, "\n  - %s: %s", e.File, p.Message)
		}
	}
	return b.String()
}

// LoadFile reads and parses the policy file at path; errors name the path.
func LoadFile(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read disclosure policy: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read disclosure policy %s: %w", path, err)
	}
	return Parse(data, path)
}

// Parse reads a policy file (YAML) and validates it, reporting every problem at
// once in a *ParseError whose messages name the file (as name) and the line.
// The format is described in the package documentation.
func Parse(data []byte, name string) (*Policy, error) {
	p := &parser{file: name}
	if len(data) > MaxFileSize {
		p.addf(0, "larger than %d bytes", MaxFileSize)
		return nil, p.err()
	}
	if !utf8.Valid(data) {
		p.addf(0, "not UTF-8 text")
		return nil, p.err()
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.addf(0, "empty: list the data classes under data_classes (see the default policy)")
		} else {
			p.yamlError(err)
		}
		return nil, p.err()
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			line = 0
		}
		p.addf(line, "only one YAML document is allowed (remove the \"---\")")
	}
	pol := p.document(&doc)
	if len(p.problems) > 0 {
		return nil, p.err()
	}
	return pol, nil
}

// parser collects problems while walking the YAML tree.
type parser struct {
	file     string
	problems []Problem
}

func (p *parser) addf(line int, format string, args ...any) {
	p.problems = append(p.problems, Problem{Line: line, Message: fmt.Sprintf(format, args...)})
}

func (p *parser) err() error {
	return &ParseError{File: p.file, Problems: p.problems}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError records a syntax error of the YAML decoder under its line.
func (p *parser) yamlError(err error) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		if n, convErr := strconv.Atoi(m[1]); convErr == nil {
			p.addf(n, "YAML syntax: %s", m[2])
			return
		}
	}
	p.addf(0, "YAML syntax: %s", strings.TrimPrefix(msg, "yaml: "))
}

// mapping returns the key/value pairs of a mapping node, reporting keys that
// repeat, are not plain strings or are not in known.
func (p *parser) mapping(n *yaml.Node, what string, known ...string) map[string]*yaml.Node {
	if n.Kind == yaml.AliasNode {
		p.addf(n.Line, "%s: YAML aliases are not supported; write the value out", what)
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.addf(n.Line, "%s: want a mapping of %s", what, strings.Join(known, ", "))
		return nil
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
			p.addf(k.Line, "%s: keys must be plain names", what)
			continue
		}
		if !slices.Contains(known, k.Value) {
			p.addf(k.Line, "%s: unknown key %q (want %s)", what, k.Value, strings.Join(known, ", "))
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.addf(k.Line, "%s: %s given twice", what, k.Value)
			continue
		}
		out[k.Value] = v
	}
	return out
}

// scalar returns the text of a scalar value, reporting any other kind.
func (p *parser) scalar(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		p.addf(n.Line, "%s: want a single value", what)
		return "", false
	}
	if n.Tag == "!!null" {
		return "", true
	}
	return n.Value, true
}

func (p *parser) document(doc *yaml.Node) *Policy {
	root := doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		root = doc.Content[0]
	}
	top := p.mapping(root, "policy", "data_classes")
	if top == nil {
		return nil
	}
	list, ok := top["data_classes"]
	if !ok {
		p.addf(root.Line, "policy: data_classes is missing: list the data classes under it")
		return nil
	}
	if list.Kind != yaml.SequenceNode {
		p.addf(list.Line, "data_classes: want a list of data classes (items starting with \"- \")")
		return nil
	}
	switch n := len(list.Content); {
	case n == 0:
		p.addf(list.Line, "data_classes: the list is empty; name at least one data class")
		return nil
	case n > MaxDataClasses:
		p.addf(list.Line, "data_classes: at most %d data classes, got %d", MaxDataClasses, n)
		return nil
	}
	pol := &Policy{index: map[string]int{}}
	firstLine := map[string]int{}
	for _, item := range list.Content {
		r, ok := p.rule(item)
		if !ok {
			continue
		}
		if prev, dup := firstLine[r.DataClass]; dup {
			p.addf(item.Line, "data_class %q is already defined on line %d", r.DataClass, prev)
			continue
		}
		firstLine[r.DataClass] = item.Line
		pol.index[r.DataClass] = len(pol.rules)
		pol.rules = append(pol.rules, r)
	}
	return pol
}

var ruleKeys = []string{"data_class", "description", "min_level", "max_age", "channels"}

// rule reads one data class; ok is false when it has a problem.
func (p *parser) rule(n *yaml.Node) (Rule, bool) {
	before := len(p.problems)
	m := p.mapping(n, "data class", ruleKeys...)
	if m == nil {
		return Rule{}, false
	}
	what := "data class"
	for _, k := range ruleKeys {
		if _, ok := m[k]; !ok {
			p.addf(n.Line, "%s: %s is missing", what, k)
		}
	}
	var r Rule
	if v, ok := m["data_class"]; ok {
		if s, ok := p.scalar(v, "data_class"); ok {
			if dataClassPattern.MatchString(s) {
				r.DataClass = s
				what = "data class " + s
			} else {
				p.addf(v.Line, "data_class %q: want a lower-case name of letters, digits and _, starting with a letter, at most 64 bytes (e.g. shipping_address)", s)
			}
		}
	}
	if v, ok := m["description"]; ok {
		if s, ok := p.scalar(v, what+": description"); ok {
			s = strings.TrimSpace(s)
			switch {
			case s == "":
				p.addf(v.Line, "%s: description is empty: say in a sentence what the data is", what)
			case len(s) > MaxDescription:
				p.addf(v.Line, "%s: description is longer than %d bytes", what, MaxDescription)
			case strings.ContainsAny(s, "\r\n"):
				p.addf(v.Line, "%s: description must be one line", what)
			default:
				// Agents read it in their cheat sheet: nothing may hide or reorder.
				if d, err := text.Display(s); err != nil {
					p.addf(v.Line, "%s: description %v", what, err)
				} else {
					s = d
				}
			}
			r.Description = s
		}
	}
	if v, ok := m["min_level"]; ok {
		if s, ok := p.scalar(v, what+": min_level"); ok {
			if l, ok := parseLevel(s); ok {
				r.MinLevel = l
			} else {
				p.addf(v.Line, "%s: min_level: unknown level %q (want low, substantial or high)", what, s)
			}
		}
	}
	if v, ok := m["max_age"]; ok {
		if s, ok := p.scalar(v, what+": max_age"); ok {
			r.MaxAge = p.maxAge(v.Line, what, s)
		}
	}
	if v, ok := m["channels"]; ok {
		r.Channels = p.channels(v, what)
	}
	return r, len(p.problems) == before
}

func (p *parser) maxAge(line int, what, s string) time.Duration {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		p.addf(line, "%s: max_age %q: want a duration such as 90s, 15m or 1h", what, s)
	case d <= 0:
		p.addf(line, "%s: max_age must be positive, got %s", what, s)
	case d > MaxMaxAge:
		p.addf(line, "%s: max_age must be at most 24h, got %s", what, s)
	case d%time.Second != 0:
		p.addf(line, "%s: max_age must be whole seconds, got %s", what, s)
	default:
		return d
	}
	return 0
}

func (p *parser) channels(n *yaml.Node, what string) []Channel {
	if n.Kind != yaml.SequenceNode {
		p.addf(n.Line, "%s: channels: want a list such as [dm, secure_channel]", what)
		return nil
	}
	if len(n.Content) == 0 {
		p.addf(n.Line, "%s: channels: the list is empty; name at least one of dm, secure_channel, phone", what)
		return nil
	}
	var out []Channel
	for _, item := range n.Content {
		s, ok := p.scalar(item, what+": channels")
		if !ok {
			continue
		}
		ch, ok := ParseChannel(s)
		switch {
		case !ok:
			p.addf(item.Line, "%s: unknown channel %q (want dm, secure_channel or phone)", what, s)
		case ch == PublicReply:
			p.addf(item.Line, "%s: public_reply is never allowed: account data is not shared in a public reply", what)
		case slices.Contains(out, ch):
			p.addf(item.Line, "%s: channel %s listed twice", what, s)
		default:
			out = append(out, ch)
		}
	}
	return out
}

// parseLevel reads a level as a policy file writes it.
func parseLevel(s string) (assurance.Level, bool) {
	for l := assurance.Low; l <= assurance.High; l++ {
		if l.String() == s {
			return l, true
		}
	}
	return 0, false
}
