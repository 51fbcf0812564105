package audit_test

import (
	"fmt"

	"github.com/authsvc/authsvc/internal/audit"
)

func ExamplePseudonym() {
	// key is the customer's pseudonym key: 32 random bytes as 64 hex characters.
	key := "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	p := audit.Pseudonym(key, "42")
	fmt.Println(len(p), p == audit.Pseudonym(key, "42"), p == audit.Pseudonym(key, "43"))
	// Output: 16 true false
}

func ExampleStreamKey() {
	fmt.Println(audit.StreamKey("ab12", false))
	fmt.Println(audit.StreamKey("ab12", true))
	// Output:
	// audit:events
	// v:{ab12}:a
}
