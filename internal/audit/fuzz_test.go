package audit

import (
	"encoding/base64"
	"testing"
)

// FuzzParseToken: page tokens come from clients. parseToken never panics, and a token it accepts
// is one List could have issued.
func FuzzParseToken(f *testing.F) {
	for _, s := range []string{"", "0:", "1:1700000000000-0", "0:18446744073709551615-18446744073709551615", "x", "0:1-"} {
		f.Add(base64.RawURLEncoding.EncodeToString([]byte(s)))
	}
	f.Add("!!!")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := parseToken(token, 3)
		if err != nil || token == "" {
			return
		}
		if c.stream < 0 || c.stream >= 3 {
			t.Fatalf("token %q: stream %d", token, c.stream)
		}
		if c.String() != token {
			t.Fatalf("token %q parsed to %+v, which encodes as %q", token, c, c.String())
		}
	})
}
