package seal_test

import (
	"crypto/rand"
	"fmt"

	"github.com/authsvc/authsvc/internal/seal"
)

func Example() {
	// In production: seal.LoadFile(cfg.SealKeyFile); in dev mode: seal.Ephemeral.
	ring, err := seal.Ephemeral(rand.Reader)
	if err != nil {
		panic(err)
	}
	customer := []byte("customer-42") // binds the value to its owner
	stored, err := ring.Seal(rand.Reader, []byte("totp seed"), customer)
	if err != nil {
		panic(err)
	}
	seed, err := ring.Open(stored, customer)
	fmt.Printf("%s %v\n", seed, err)

	_, err = ring.Open(stored, []byte("customer-43"))
	fmt.Println(err)
	// Output:
	// totp seed <nil>
	// seal: cannot open sealed value under key "dev"
}
