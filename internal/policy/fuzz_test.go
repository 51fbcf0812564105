package policy

import (
	"errors"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/assurance"
)

// FuzzParse feeds arbitrary files to Parse, seeded with the default policy and
// broken variants. Parse must never panic, must answer a *ParseError with at
// least one problem or a policy, and every accepted policy must keep the
// invariants Decide relies on.
func FuzzParse(f *testing.F) {
	f.Add(DefaultYAML())
	f.Add([]byte(goodFile))
	f.Add([]byte("data_classes:\n  - data_class: a\n    min_level: ultra\n"))
	f.Add([]byte("x: &a [*a]\n"))
	f.Add([]byte("data_classes: [{data_class: a, description: d, min_level: high, max_age: 24h, channels: [phone]}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, "fuzz.yaml")
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || len(pe.Problems) == 0 {
				t.Fatalf("error %v is not a *ParseError with problems", err)
			}
			return
		}
		c := Claims{Level: assurance.High, AuthTime: time.Unix(1_900_000_000, 0), ConversationID: "c"}
		for _, r := range p.Rules() {
			if !dataClassPattern.MatchString(r.DataClass) || !r.MinLevel.Valid() || r.MaxAge <= 0 ||
				r.MaxAge > MaxMaxAge || len(r.Channels) == 0 || r.Allows(PublicReply) {
				t.Fatalf("accepted rule %+v", r)
			}
			d, err := p.Decide(c, r.DataClass, PublicReply, "c", c.AuthTime)
			if err != nil || d.Allowed {
				t.Fatalf("public reply of %s: %+v, %v", r.DataClass, d, err)
			}
		}
	})
}
