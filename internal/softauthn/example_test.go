package softauthn_test

import (
	"encoding/json"
	"fmt"
	"log"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/authsvc/authsvc/internal/softauthn"
)

// A passkey registered and used against a go-webauthn relying party, with no
// browser: the options go to the authenticator as JSON, its answers come back
// as the JSON a page would post.
func Example() {
	w, err := webauthn.New(&webauthn.Config{RPID: "localhost", RPDisplayName: "Acme", RPOrigins: []string{"http://localhost:8080"}})
	if err != nil {
		log.Fatal(err)
	}
	u := &user{id: []byte("opaque-user-handle")}
	a, err := softauthn.New("localhost", "http://localhost:8080")
	if err != nil {
		log.Fatal(err)
	}

	cc, session, err := w.BeginRegistration(u)
	if err != nil {
		log.Fatal(err)
	}
	options, _ := json.Marshal(cc)
	body, err := a.Register(options)
	if err != nil {
		log.Fatal(err)
	}
	created, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		log.Fatal(err)
	}
	cred, err := w.CreateCredential(u, *session, created)
	if err != nil {
		log.Fatal(err)
	}
	u.creds = append(u.creds, *cred)
	fmt.Println("registered with attestation", cred.AttestationFormat)

	ca, session, err := w.BeginLogin(u)
	if err != nil {
		log.Fatal(err)
	}
	options, _ = json.Marshal(ca)
	if body, err = a.Login(options); err != nil {
		log.Fatal(err)
	}
	asserted, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		log.Fatal(err)
	}
	if cred, err = w.ValidateLogin(u, *session, asserted); err != nil {
		log.Fatal(err)
	}
	fmt.Println("signed in, sign count", cred.Authenticator.SignCount)
	// Output:
	// registered with attestation none
	// signed in, sign count 1
}
