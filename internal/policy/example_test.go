package policy_test

import (
	"fmt"
	"time"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/policy"
)

// A LOW assertion (a code sent to the email on file) may reveal an order's
// status in the DM it was issued for, but not the delivery address: the denial
// says which levels and which age of authentication would do.
func ExamplePolicy_Decide() {
	authTime := time.Date(2030, 1, 2, 15, 0, 0, 0, time.UTC)
	claims := policy.Claims{Level: assurance.Low, AuthTime: authTime, ConversationID: "dm-42"}
	now := authTime.Add(2 * time.Minute)
	p := policy.Default()

	d, _ := p.Decide(claims, "order_status", policy.DM, "dm-42", now)
	fmt.Println("order_status:", d.Allowed)

	d, _ = p.Decide(claims, "shipping_address", policy.DM, "dm-42", now)
	fmt.Println("shipping_address:", d.Allowed, d.Denials, d.ACRValues, d.MaxAge)
	// Output:
	// order_status: true
	// shipping_address: false [level_too_low] urn:authsvc:acr:substantial urn:authsvc:acr:high 15m0s
}
