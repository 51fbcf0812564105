package identity_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/keyedhash"
	"github.com/authsvc/authsvc/internal/seal"
)

// The enrollment of an authenticator app: the platform asks for a link, the
// customer opens it on her phone, the page begins the enrollment (shows the QR
// code of the URI) and confirms it with the first code her app shows. (Not run:
// it needs a Redis.)
func Example_enrollTOTP() {
	ctx := context.Background()
	keys, _ := keyedhash.LoadFile("/etc/authsvc/hmac.keys")
	seals, _ := seal.LoadFile("/etc/authsvc/seal.keys")
	wa, _ := webauthn.New(&webauthn.Config{RPID: "verify.example.com", RPDisplayName: "Acme",
		RPOrigins: []string{"https://verify.example.com"}})
	pub, _ := url.Parse("https://verify.example.com")
	store, err := identity.New(identity.Config{PublicURL: pub, Brand: "Acme"},
		redis.NewClient(&redis.Options{Addr: "localhost:6379"}), keys, seals, wa, time.Now, rand.Reader, slog.Default())
	if err != nil {
		panic(err)
	}

	// The platform (after a recent verification of customer 42):
	link, _, err := store.CreateEnrollment(ctx, "platform-a", "42", identity.KindTOTP, "en", nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("post in the DM:", link) // https://verify.example.com/e/<token>
	token := "<token>"

	// The page: GET shows it, POSTs act.
	if _, err := store.OpenEnrollment(ctx, token, ""); err != nil {
		return // the neutral "link not valid" page
	}
	uri, _, err := store.BeginTOTP(ctx, token, "") // show uri as a QR code, once
	if err != nil {
		return
	}
	_ = uri
	factor, err := store.ConfirmTOTP(ctx, token, "123 456", "", "")
	if err != nil {
		return // *identity.CodeError says how many tries are left
	}
	fmt.Println("enrolled", factor.Label)
}
