package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// maxRegistrationBody bounds a registration response read from the page; real ones
// are a few kilobytes.
const maxRegistrationBody = 64 << 10

// BeginPasskey starts a passkey registration ceremony on an open passkey
// enrollment (a POST from the page) and returns the options for
// navigator.credentials.create. The ceremony asks for a discoverable credential if
// the authenticator can, requires user verification, wants no attestation,
// excludes the customer's existing passkeys and times out after CeremonyTimeout.
// Its SessionData is kept server-side beside the enrollment; a new ceremony
// replaces the previous one.
func (s *Store) BeginPasskey(ctx context.Context, token string) (*protocol.CredentialCreation, error) {
	id, err := s.parseToken(token)
	if err != nil {
		return nil, err
	}
	e, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if !e.open(KindPasskey, s.now()) || e["cu"] == "" {
		return nil, ErrNotFound
	}
	factors, err := s.Factors(ctx, e["cu"])
	if err != nil {
		return nil, err
	}
	user := NewPasskeyUser(s.keys, e["cu"], s.label(), factors)
	var exclude []protocol.CredentialDescriptor
	for _, c := range user.WebAuthnCredentials() {
		exclude = append(exclude, c.Descriptor())
	}
	timeout := s.cfg.CeremonyTimeout
	creation, session, err := s.wa.BeginRegistration(user,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			RequireResidentKey: protocol.ResidentKeyNotRequired(),
			ResidentKey:        protocol.ResidentKeyRequirementPreferred,
			UserVerification:   protocol.VerificationRequired,
		}),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
		webauthn.WithExclusions(exclude),
		func(o *protocol.PublicKeyCredentialCreationOptions) error {
			o.Timeout = int(timeout.Milliseconds())
			return nil
		},
	)
	if err != nil {
		return nil, unavailable(err)
	}
	// The ceremony's deadline follows the service clock, not the library's.
	now := s.now()
	session.Expires = now.Add(timeout)
	raw, err := json.Marshal(session)
	if err != nil {
		return nil, unavailable(err)
	}
	n, err := s.runInt(ctx, passkeyBeginScript, []string{EnrollmentKey(id), SessionKey(id)},
		ms(now), raw, timeout.Milliseconds())
	if err != nil {
		return nil, err
	}
	if n != 1 {
		return nil, ErrNotFound
	}
	return creation, nil
}

// FinishPasskey finishes a passkey enrollment with the page's registration
// response (the JSON of the PublicKeyCredential); the audit trail records
// factor_enrolled for the client that created the link. The ceremony's SessionData is
// taken (read and deleted) first, so a ceremony finishes at most once. A
// malformed response, a used, replaced or timed-out ceremony, or a response that
// does not verify is ErrCeremony; a credential id registered already (to any
// customer) is ErrDuplicateCredential; a link that is not open is ErrNotFound.
func (s *Store) FinishPasskey(ctx context.Context, token string, body io.Reader) (*Factor, error) {
	id, err := s.parseToken(token)
	if err != nil {
		return nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBody(io.LimitReader(body, maxRegistrationBody))
	if err != nil {
		s.logCeremony(id, "parse", err)
		return nil, fmt.Errorf("%w: malformed registration response", ErrCeremony)
	}
	now := s.now()
	st, reply, err := s.runList(ctx, passkeyTakeScript, []string{EnrollmentKey(id), SessionKey(id)}, ms(now))
	if err != nil {
		return nil, err
	}
	switch st {
	case "ok":
	case "nosession":
		return nil, fmt.Errorf("%w: no ceremony in progress", ErrCeremony)
	default:
		return nil, ErrNotFound
	}
	cu, ch := strAt(reply, 2), strAt(reply, 3)
	var session webauthn.SessionData
	if err := json.Unmarshal([]byte(strAt(reply, 1)), &session); err != nil || cu == "" || ch == "" {
		return nil, fmt.Errorf("%w: malformed ceremony", ErrUnavailable)
	}
	if session.Expires.IsZero() || !now.Before(session.Expires) {
		s.log.Info("passkey registration refused", "enrollment", id, "stage", "timeout")
		return nil, fmt.Errorf("%w: ceremony timed out", ErrCeremony)
	}
	// Checked above against the service clock; the library would check the wall clock.
	session.Expires = time.Time{}
	cred, err := s.wa.CreateCredential(NewPasskeyUser(s.keys, cu, s.label(), nil), session, parsed)
	if err != nil {
		s.logCeremony(id, "verify", err)
		return nil, fmt.Errorf("%w: registration did not verify", ErrCeremony)
	}
	if !cred.Flags.UserVerified || len(cred.ID) == 0 {
		return nil, fmt.Errorf("%w: registration did not verify the user", ErrCeremony)
	}

	fid, err := s.randomB32(factorIDLen)
	if err != nil {
		return nil, err
	}
	pk := PasskeyFromCredential(cred)
	f := &Factor{ID: fid, Kind: KindPasskey, Label: passkeyLabel, Created: time.UnixMilli(now.UnixMilli()), Passkey: pk}
	v, err := f.Encode()
	if err != nil {
		return nil, unavailable(err)
	}
	// The credential id is claimed across all customers first, then the factor is
	// stored; a refused store gives the claim up again. A store error keeps the
	// claim (it may have been stored): that fails closed, the worst case being a
	// credential id that cannot be registered again until the claim expires.
	idxKey, owner := CredentialKey(s.keys, cred.ID), id[:TagLen]+":"+ch+":"+fid
	claimed, err := s.runInt(ctx, credentialClaimScript, []string{idxKey}, owner, s.cfg.Retention.Milliseconds())
	if err != nil {
		return nil, err
	}
	if claimed != 1 {
		s.log.Info("passkey registration refused: credential id already registered", "enrollment", id)
		return nil, ErrDuplicateCredential
	}
	pseudonymKey, err := s.freshPseudonymKey()
	if err != nil {
		return nil, err
	}
	stored, err := s.runInt(ctx, passkeyFinishScript, []string{EnrollmentKey(id), CustomerKey(id[:TagLen], ch)},
		ms(now), fid, v, pk.SignCount, cu, s.cfg.Retention.Milliseconds(), pseudonymKey)
	if err != nil {
		return nil, err
	}
	if stored != 1 {
		if _, err := s.runInt(ctx, credentialReleaseScript, []string{idxKey}, owner); err != nil {
			s.log.Warn("credential claim not released", "enrollment", id, "error", err)
		}
		return nil, ErrNotFound
	}
	return f, nil
}

// logCeremony logs why a registration was refused: the library's error type and
// details, never its debug info (which may echo client data) nor the response.
func (s *Store) logCeremony(id, stage string, err error) {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		s.log.Info("passkey registration refused", "enrollment", id, "stage", stage, "type", pe.Type, "reason", pe.Details)
		return
	}
	s.log.Info("passkey registration refused", "enrollment", id, "stage", stage)
}
