package identity

import (
	"strconv"
	"testing"
)

// Tags lists every tag once, and every tag the keyed hashes make is among them.
func TestTags(t *testing.T) {
	t.Parallel()
	tags := Tags()
	if len(tags) != 1<<14 {
		t.Fatalf("%d tags, want 16384", len(tags))
	}
	seen := make(map[string]bool, len(tags))
	for _, tag := range tags {
		if seen[tag] || !validTag(tag) {
			t.Fatalf("tag %q repeated or not a tag", tag)
		}
		seen[tag] = true
	}
	keys := testKeys(t)
	for i := range 5000 {
		for _, tag := range []string{CustomerTag(keys, "cust-"+strconv.Itoa(i)), IdentityTag(keys, "x", strconv.Itoa(i))} {
			if !seen[tag] {
				t.Fatalf("tag %q is not in Tags()", tag)
			}
		}
	}
}
