package challenge

import (
	"strings"
	"testing"
)

// TestPackChunks checks that the packed fields travel in as few chunks as a
// listpack value allows, none longer than listpackValue nor empty, of lengths
// at most one apart, and that joining them gives the fields back.
func TestPackChunks(t *testing.T) {
	t.Parallel()
	for n := 0; n <= 300; n++ {
		r := record{"nw": strings.Repeat("a", n), "ui": "1234567890"}
		out := r.pack()
		var b strings.Builder
		lo, hi := listpackValue, 0
		for i := 0; i < len(out); i += 2 {
			v := out[i+1].(string)
			lo, hi = min(lo, len(v)), max(hi, len(v))
			b.WriteString(v)
		}
		vals := make([]string, len(packedFields))
		vals[0], vals[1] = strings.Repeat("a", n), "1234567890"
		want := strings.Join(vals, fieldSep)
		if got, chunks := len(out)/2, (len(want)+listpackValue-1)/listpackValue; got != chunks {
			t.Fatalf("%d bytes packed in %d chunks, want %d", len(want), got, chunks)
		}
		if hi > listpackValue || lo == 0 || hi-lo > 1 {
			t.Fatalf("%d bytes packed in chunks of %d to %d bytes", len(want), lo, hi)
		}
		if b.String() != want {
			t.Fatalf("%d bytes: the chunks joined differ from the fields", len(want))
		}
		back := record{}
		for i := 0; i < len(out); i += 2 {
			back[out[i].(string)] = out[i+1].(string)
		}
		back.unpack()
		if back["nw"] != vals[0] || back["ui"] != vals[1] {
			t.Fatalf("%d bytes: unpacked nw, ui = %q, %q", len(want), back["nw"], back["ui"])
		}
	}
}
