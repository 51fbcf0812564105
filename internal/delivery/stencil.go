package delivery

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"
)

// Messages and DM texts are rendered from stencils: a template's output for one
// choice of the values its conditionals read (the expiry, the factor), executed
// once with a marker in place of every value it only prints, and kept as the
// literal text between those markers. Rendering a message then joins the
// literals with the values, which is exactly what executing the template would
// print: the templates are plain text, so a value is printed as it is, and
// every value a conditional reads is part of the stencil's key, not a slot
// (stencil_test.go checks the two ways agree for every template).
type stencil struct {
	parts []string // the literal text, one more than slots
	slots []int    // the index of the value printed after parts[i]
}

type stencilKey struct {
	t    *template.Template
	name string
	cond any // comparable: the values the template's conditionals read
}

// maxStencils bounds the cache; the keys are few (templates × names × the
// expiries and factors in use), so past the bound a render just executes.
const maxStencils = 4096

var (
	stencils     sync.Map // stencilKey → *stencil
	stencilCount atomic.Int64
)

// marker is the placeholder of value i while a stencil is made: NUL never occurs
// in a template's own text.
func marker(i int) string { return "\x00" + strconv.Itoa(i) + "\x00" }

// executeStencil renders name of t with the data build returns for values, as
// execute does, through the stencil for cond. build must put each value into
// a field the template only prints, and cond must hold every field a
// conditional of the template reads.
func executeStencil(t *template.Template, name string, cond any, values []string, build func([]string) any) (string, error) {
	key := stencilKey{t: t, name: name, cond: cond}
	if s, ok := stencils.Load(key); ok {
		return s.(*stencil).render(values), nil
	}
	markers := make([]string, len(values))
	for i := range values {
		markers[i] = marker(i)
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, name, build(markers)); err != nil {
		return "", ErrTemplate
	}
	s, ok := parseStencil(b.String(), len(values))
	if !ok {
		return execute(t, name, build(values))
	}
	if stencilCount.Load() < maxStencils {
		if _, loaded := stencils.LoadOrStore(key, s); !loaded {
			stencilCount.Add(1)
		}
	}
	return s.render(values), nil
}

// parseStencil splits out at its markers; ok is false when out holds anything
// but well-formed markers of values below n.
func parseStencil(out string, n int) (*stencil, bool) {
	s := &stencil{}
	for {
		i := strings.IndexByte(out, 0)
		if i < 0 {
			s.parts = append(s.parts, out)
			return s, true
		}
		j := strings.IndexByte(out[i+1:], 0)
		if j < 0 {
			return nil, false
		}
		v, err := strconv.Atoi(out[i+1 : i+1+j])
		if err != nil || v < 0 || v >= n {
			return nil, false
		}
		s.parts = append(s.parts, out[:i])
		s.slots = append(s.slots, v)
		out = out[i+1+j+1:]
	}
}

// render joins the stencil's text with values and trims it, as execute does.
func (s *stencil) render(values []string) string {
	n := 0
	for _, p := range s.parts {
		n += len(p)
	}
	for _, v := range s.slots {
		n += len(values[v])
	}
	var b strings.Builder
	b.Grow(n)
	for i, p := range s.parts {
		b.WriteString(p)
		if i < len(s.slots) {
			b.WriteString(values[s.slots[i]])
		}
	}
	return strings.TrimSpace(b.String())
}
