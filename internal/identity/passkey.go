package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/authsvc/authsvc/internal/assurance"
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
// replaces the previous one. binding is the keyed hash of the browser asking; a
// link bound to another browser is ErrWrongBrowser.
func (s *Store) BeginPasskey(ctx context.Context, token, binding string) (*protocol.CredentialCreation, error) {
	id, err := s.parseToken(token)
	if err != nil {
		return nil, err
	}
	e, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if !e.bound(binding) {
		return nil, ErrWrongBrowser
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
// customer) is ErrDuplicateCredential; a link that is not open is ErrNotFound, and
// one bound to another browser than binding ErrWrongBrowser. A first factor after
// a LOW proof is stored only once its notice left for the proven contact (ErrNotice
// otherwise) and only while the customer holds no factor (a *ProofError). A
// passkey bound after a SUBSTANTIAL proof is capped at SUBSTANTIAL
// (Passkey.MaxLevel).
func (s *Store) FinishPasskey(ctx context.Context, token string, body io.Reader, binding string) (*Factor, error) {
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
	st, reply, err := s.runList(ctx, passkeyTakeScript, []string{EnrollmentKey(id), SessionKey(id)}, ms(now), binding)
	if err != nil {
		return nil, err
	}
	switch st {
	case "ok":
	case "nosession":
		return nil, fmt.Errorf("%w: no ceremony in progress", ErrCeremony)
	case "browser":
		return nil, ErrWrongBrowser
	default:
		return nil, ErrNotFound
	}
	e := enrollment{}
	if fields, ok := reply[2].([]any); ok {
		for i := 0; i+1 < len(fields); i += 2 {
			k, _ := fields[i].(string)
			v, _ := fields[i+1].(string)
			e[k] = v
		}
	}
	cu, ch := e["cu"], e["ch"]
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
	if cp, err := strconv.Atoi(e["cp"]); err == nil && cp > 0 {
		pk.MaxLevel = assurance.Level(cp)
	}
	f := &Factor{ID: fid, Kind: KindPasskey, Client: e.factorClient(), Label: passkeyLabel, Created: time.UnixMilli(now.UnixMilli()),
		Passkey: pk}
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
	release := func() {
		if _, err := s.runInt(ctx, credentialReleaseScript, []string{idxKey}, owner); err != nil {
			s.log.Warn("credential claim not released", "enrollment", id, "error", err)
		}
	}
	pseudonymKey, err := s.freshPseudonymKey()
	if err != nil {
		release()
		return nil, err
	}
	n, err := s.prepareNotice(id, e, KindPasskey)
	if err != nil {
		release()
		return nil, err
	}
	if err := s.send(ctx, n, id); err != nil {
		release()
		return nil, err
	}
	rkeys, rargs := s.reportArgs(n)
	stored, err := s.runInt(ctx, passkeyFinishScript, append([]string{EnrollmentKey(id), CustomerKey(id[:TagLen], ch)}, rkeys...),
		append(append([]any{ms(now), fid, v, pk.SignCount, cu, s.cfg.Retention.Milliseconds(), pseudonymKey}, rargs...),
			s.trustArg(e["cl"]))...)
	if err != nil {
		return nil, err
	}
	switch stored {
	case 1:
		return f, nil
	case -1:
		release()
		return nil, &ProofError{Need: assurance.Substantial}
	}
	release()
	return nil, ErrNotFound
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
