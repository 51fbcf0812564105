package browsertest

import (
	"context"
	"fmt"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// Authenticator describes a CDP virtual authenticator: a CTAP2 platform authenticator ("internal"
// transport, like a phone's passkey provider) that finds the user present at once.
type Authenticator struct {
	// UserVerification is whether the authenticator verifies the user (a phone with a screen
	// lock). When false it cannot: a ceremony with user verification "preferred" or "discouraged"
	// succeeds with the UV flag clear, and one with "required" is refused by the browser.
	UserVerification bool
	// ResidentKey is whether the authenticator stores discoverable credentials (passkeys).
	ResidentKey bool
}

// virtualAuthenticatorOptions is the WebAuthn.addVirtualAuthenticator options object, sent raw:
// cdproto's typed options send every field of the newest protocol (hasCmtgKey, …), which a
// browser that does not know them may refuse, and automaticPresenceSimulation must be sent true
// explicitly or create() waits for a presence that never comes.
type virtualAuthenticatorOptions struct {
	Protocol                    string `json:"protocol"`
	Transport                   string `json:"transport"`
	HasResidentKey              bool   `json:"hasResidentKey"`
	HasUserVerification         bool   `json:"hasUserVerification"`
	IsUserVerified              bool   `json:"isUserVerified"`
	AutomaticPresenceSimulation bool   `json:"automaticPresenceSimulation"`
}

// AddVirtualAuthenticator enables the WebAuthn domain of the tab (once) and adds a virtual
// authenticator to it, returning the authenticator's id. The authenticator survives navigation
// and goes away with the tab.
func (p *Page) AddVirtualAuthenticator(t testing.TB, a Authenticator) string {
	t.Helper()
	var res webauthn.AddVirtualAuthenticatorResult
	p.webauthnCall(t, "add virtual authenticator", func(ctx context.Context, tgt *chromedp.Target) error {
		if !p.webauthnEnabled {
			// The domain must be enabled first, or addVirtualAuthenticator fails.
			if _, err := cdp.Call(ctx, tgt, webauthn.Enable, webauthn.EnableParams{}); err != nil {
				return fmt.Errorf("%s: %w", webauthn.CommandEnable, err)
			}
			p.webauthnEnabled = true
		}
		params := struct {
			Options virtualAuthenticatorOptions `json:"options"`
		}{virtualAuthenticatorOptions{
			Protocol:                    string(webauthn.AuthenticatorProtocolCtap2),
			Transport:                   string(webauthn.AuthenticatorTransportInternal),
			HasResidentKey:              a.ResidentKey,
			HasUserVerification:         a.UserVerification,
			IsUserVerified:              a.UserVerification,
			AutomaticPresenceSimulation: true,
		}}
		return tgt.Call(ctx, webauthn.CommandAddVirtualAuthenticator, params, &res)
	})
	if res.AuthenticatorID == "" {
		t.Fatalf("browsertest: %s returned no authenticator id", webauthn.CommandAddVirtualAuthenticator)
	}
	return string(res.AuthenticatorID)
}

// SetResponseOverrideBits makes the authenticator clear the UV (badUV) and UP (badUP) flags in the
// responses it gives from now on, while still signing them: the server then sees an otherwise
// valid assertion without user verification or presence. Call it again with false to stop.
func (p *Page) SetResponseOverrideBits(t testing.TB, authenticatorID string, badUV, badUP bool) {
	t.Helper()
	p.webauthnCall(t, "set response override bits", func(ctx context.Context, tgt *chromedp.Target) error {
		_, err := cdp.Call(ctx, tgt, webauthn.SetResponseOverrideBits, webauthn.SetResponseOverrideBitsParams{
			AuthenticatorID: webauthn.AuthenticatorID(authenticatorID),
			IsBadUV:         &badUV,
			IsBadUP:         &badUP,
		})
		return err
	})
}

// Credential is a credential stored in a virtual authenticator.
type Credential struct {
	ID         []byte // the credential id, as the server sees it in rawId
	SignCount  int64  // the signature counter; it grows with each assertion
	RPID       string
	UserHandle []byte // the user.id given at registration (resident credentials only)
	Resident   bool   // discoverable (a passkey)
}

// Credentials returns the credentials stored in the authenticator.
func (p *Page) Credentials(t testing.TB, authenticatorID string) []Credential {
	t.Helper()
	var res webauthn.GetCredentialsResult
	p.webauthnCall(t, "get credentials", func(ctx context.Context, tgt *chromedp.Target) error {
		var err error
		res, err = cdp.Call(ctx, tgt, webauthn.GetCredentials, webauthn.GetCredentialsParams{
			AuthenticatorID: webauthn.AuthenticatorID(authenticatorID),
		})
		return err
	})
	creds := make([]Credential, 0, len(res.Credentials))
	for _, c := range res.Credentials {
		if c == nil {
			continue
		}
		creds = append(creds, Credential{
			ID:         c.CredentialID,
			SignCount:  int64(c.SignCount),
			RPID:       c.RpID,
			UserHandle: c.UserHandle,
			Resident:   c.IsResidentCredential,
		})
	}
	return creds
}

// webauthnCall runs f on the tab with the call deadline and fails t with what on error.
func (p *Page) webauthnCall(t testing.TB, what string, f func(ctx context.Context, tgt *chromedp.Target) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, callTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Func(f)); err != nil {
		t.Fatalf("browsertest: %s: %v", what, err)
	}
}
