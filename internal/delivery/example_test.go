package delivery_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/authsvc/authsvc/internal/delivery"
)

func ExampleDMText() {
	s := delivery.DMText(delivery.DMParams{
		Locale:          "es-MX",
		Brand:           "Acme",
		Kind:            delivery.DMPickNumber,
		DestinationMask: "a•••e@m•••.example",
		MatchNumber:     "42",
		ExpiresIn:       15 * time.Minute,
	})
	// The brand and the mask are isolated (U+2068 … U+2069, invisible): shown here as ⟨ ⟩.
	fmt.Println(strings.NewReplacer("\u2068", "⟨", "\u2069", "⟩").Replace(s))
	// Output:
	// Enviamos un enlace a ⟨a•••e@m•••.example⟩. Cuando lo abras, elige el 42 para confirmar que eres tú (caduca en 15 minutos). ⟨Acme⟩ nunca te pedirá el enlace ni ningún código aquí.
}

func ExampleRouter() {
	// Development wiring: both channels land in an in-memory outbox.
	outbox := delivery.NewOutbox(10)
	router := delivery.NewRouter(outbox, outbox)
	err := router.Send(context.Background(), delivery.Message{
		ID:        "v1-0001",
		Channel:   delivery.SMS,
		To:        "+14155550123",
		Locale:    "en-US",
		Kind:      delivery.KindCode,
		Code:      "493027",
		Brand:     "Acme",
		Network:   "x",
		Handle:    "@al**e",
		PageHost:  "verify.acme.example",
		ExpiresIn: 10 * time.Minute,
	})
	fmt.Println(err)
	fmt.Println(outbox.List()[0].Text)
	// Output:
	// <nil>
	// Acme code for @al**e on X: 493027. Enter it only at verify.acme.example, never in a chat or call. Expires in 10 min.
	//
	// @verify.acme.example #493027
}
