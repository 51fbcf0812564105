package delivery

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"
)

// Messages and DM texts are rendered from stencils: a template's output for one
// choice of what its conditionals read (the expiry, the factor, which values are
// empty), executed once with a marker in place of every value it prints, and
// kept as the literal text between those markers. Rendering a message then joins
// the literals with the values, which is what executing the template prints: the
// templates are plain text, so a value is printed as it is. That is checked when
// a stencil is made, not assumed: the template is executed with two families of
// markers (other letters, another length), each marker must come out whole, and
// the literal text must be the same both times, so no text depends on a value but
// through its slot. TestStencilsRenderWhatTheTemplatesDo compares the two ways
// for every message, subject and DM text of every locale.
//
// The cache holds template text only (the values are never stored): its keys are
// a template, a name, an expiry, a factor and which values are empty.
type stencil struct {
	parts []string // the literal text, one more than slots
	slots []int    // the index of the value printed after parts[i]
	size  int
}

type stencilKey struct {
	t     *template.Template
	name  string
	cond  any    // comparable: what the template's conditionals read
	empty uint64 // bit i: value i is empty
}

// maxStencils bounds the cache; the keys are few (templates × names × the
// expiries and factors in use), so past the bound a render just executes.
const maxStencils = 4096

var (
	stencils     sync.Map // stencilKey → *stencil (nil: the template cannot have one)
	stencilCount atomic.Int64
)

// markerFamilies are the two families of markers: NUL never occurs in a
// template's own text.
var markerFamilies = [2]string{"\x00m", "\x00qz"}

func marker(family string, i int) string { return family + strconv.Itoa(i) + "\x00" }

// executeStencil renders name of t with the data build returns for values, as
// execute does, through the stencil for cond. build must put each value into a
// field the template prints or tests for emptiness only, and cond must hold
// every other field a conditional of the template reads.
func executeStencil(t *template.Template, name string, cond any, values []string, build func([]string) any) (string, error) {
	key := stencilKey{t: t, name: name, cond: cond}
	for i, v := range values {
		if v == "" {
			key.empty |= 1 << i
		}
	}
	if s, ok := stencils.Load(key); ok {
		if s := s.(*stencil); s != nil {
			return s.render(values), nil
		}
		return execute(t, name, build(values))
	}
	s := makeStencil(t, name, values, build)
	if stencilCount.Load() < maxStencils {
		if _, loaded := stencils.LoadOrStore(key, s); !loaded {
			stencilCount.Add(1)
		}
	}
	if s == nil {
		return execute(t, name, build(values))
	}
	return s.render(values), nil
}

// makeStencil executes name with each family's markers in place of the
// non-empty values; nil when the template fails or the two disagree.
func makeStencil(t *template.Template, name string, values []string, build func([]string) any) *stencil {
	var made [len(markerFamilies)]*stencil
	for f, family := range markerFamilies {
		markers := make([]string, len(values))
		for i, v := range values {
			if v != "" {
				markers[i] = marker(family, i)
			}
		}
		var b strings.Builder
		if err := t.ExecuteTemplate(&b, name, build(markers)); err != nil {
			return nil
		}
		if made[f] = parseStencil(b.String(), family, markers); made[f] == nil {
			return nil
		}
	}
	if !slices.Equal(made[0].parts, made[1].parts) || !slices.Equal(made[0].slots, made[1].slots) {
		return nil
	}
	return made[0]
}

// parseStencil splits out at the markers of family; nil when out holds a NUL
// that is not part of a whole marker of a non-empty value.
func parseStencil(out, family string, markers []string) *stencil {
	s := &stencil{}
	for {
		i := strings.IndexByte(out, 0)
		if i < 0 {
			s.parts = append(s.parts, out)
			break
		}
		rest, ok := strings.CutPrefix(out[i:], family)
		j := strings.IndexByte(rest, 0)
		if !ok || j < 0 {
			return nil
		}
		v, err := strconv.Atoi(rest[:j])
		if err != nil || v < 0 || v >= len(markers) || markers[v] != out[i:i+len(family)+j+1] {
			return nil
		}
		s.parts = append(s.parts, out[:i])
		s.slots = append(s.slots, v)
		out = rest[j+1:]
	}
	for _, p := range s.parts {
		s.size += len(p)
	}
	return s
}

// render joins the stencil's text with values and trims it, as execute does.
func (s *stencil) render(values []string) string {
	n := s.size
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
