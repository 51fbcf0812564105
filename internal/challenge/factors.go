package challenge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/identity"
	"github.com/authsvc/authsvc/internal/verify"
)

// Linker finds the customer a social identity is linked to (*identity.Store).
type Linker interface {
	// Resolve returns the customer id linked to the identity and the client that
	// made the link ("" for a link made before links recorded their client); ok
	// is false when none is. A store failure is an error (the caller fails
	// closed).
	Resolve(ctx context.Context, network, userID string) (customerID, client string, ok bool, err error)
}

// SeedOpener opens sealed TOTP seeds (*seal.Ring).
type SeedOpener interface {
	// Open returns the plaintext of sealed, authenticated with aad.
	Open(sealed string, aad []byte) ([]byte, error)
}

// EnrollmentTrust says whose enrolled factors a client's verifications may use
// (*grpcapi.Clients, from the clients file).
type EnrollmentTrust interface {
	// TrustedEnrollers returns the clients whose enrollments a verification by
	// client may be completed with, besides client's own; all is true when client
	// trusts every client's enrollments.
	TrustedEnrollers(client string) (all bool, clients []string)
}

// Factors are what the service needs to offer and check enrolled factors.
type Factors struct {
	// Trust says whose enrollments each client trusts; nil trusts a client's own
	// enrollments only.
	Trust EnrollmentTrust
	// Links resolves the customer of an identity when a start names none.
	Links Linker
	// Seeds opens the customers' TOTP seeds.
	Seeds SeedOpener
	// WebAuthn is the relying party: its RP ID and origins decide which
	// responses count.
	WebAuthn *webauthn.WebAuthn
	// CeremonyTimeout bounds a passkey ceremony from begin to finish (2 min).
	CeremonyTimeout time.Duration
}

// Option configures a Service.
type Option func(*Service)

// WithAuditLog mirrors every audit event the scripts write to log, the
// structured audit log beside the Redis stream.
func WithAuditLog(log *audit.Log) Option {
	return func(s *Service) { s.store.auditLog = log }
}

// WithFactors enables the enrolled methods (TOTP and WEBAUTHN). Without it a
// start that accepts only those methods finds no method to offer.
func WithFactors(f Factors) Option {
	return func(s *Service) {
		if f.CeremonyTimeout == 0 {
			f.CeremonyTimeout = 2 * time.Minute
		}
		s.factors = &f
	}
}

// customerOf is the customer whose slot a start goes to: the one named, or, when
// the request accepts an enrolled method, the identity's linked customer (one
// read: the factors live on the customer's slot). A start that only sends a code
// or link stays on the identity's slot, where the start script reads the link
// itself and records the linked customer as the assertion's subject.
//
// A link counts only when the starting client made it or trusts the client that
// did, as for factors (trusts; the start script judges its own read the same way):
// any client may link an identity it names to any customer on a verification it
// made itself, so another client's link is that client's word, not this one's.
func (s *Service) customerOf(ctx context.Context, r *StartRequest, enrolled string) (string, error) {
	if r.CustomerID != "" || enrolled == "" || s.factors == nil || s.factors.Links == nil {
		return r.CustomerID, nil
	}
	id, by, ok, err := s.factors.Links.Resolve(ctx, r.Identity.Network, r.Identity.UserID)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if !ok || !trusts(s.trust(r.ClientID), by) {
		return "", nil
	}
	return id, nil
}

// factorState is what a factor completion reads in its first round trip.
type factorState struct {
	id       string
	rec      record
	ckey     string
	factors  []identity.Factor
	lastStep int64
	ceremony string
}

// readFactors reads the record of a page's verification, its customer's factors
// and any passkey ceremony: one round trip (read.lua).
func (s *Service) readFactors(ctx context.Context, token string) (*factorState, error) {
	if s.factors == nil {
		return nil, ErrNotFound
	}
	id, _, err := s.pageKey(token)
	if err != nil {
		return nil, err
	}
	reply, err := s.store.run(ctx, readScript, []string{recordKey(id), ceremonyKey(id)}, ms(s.now()))
	if err != nil {
		return nil, err
	}
	if len(reply) != 3 {
		return nil, fmt.Errorf("%w: unexpected read reply", ErrUnavailable)
	}
	rec := flatRecord(reply[0])
	if len(rec) == 0 || rec["ck"] == "" {
		return nil, ErrNotFound
	}
	rec.unpack()
	cust := map[string]string(flatRecord(reply[1]))
	factors, err := identity.ParseFactors(cust)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	st := &factorState{id: id, rec: rec, ckey: identity.CustomerKey(id[:tagLen], rec["ck"]), factors: factors, lastStep: -1}
	if ts, ok := cust["ts"]; ok {
		if st.lastStep, err = strconv.ParseInt(ts, 10, 64); err != nil {
			return nil, fmt.Errorf("%w: malformed last step", ErrUnavailable)
		}
	}
	st.ceremony, _ = reply[2].(string)
	return st, nil
}

func flatRecord(v any) record {
	list, _ := v.([]any)
	r := make(record, len(list)/2+unpackedFields)
	for i := 0; i+1 < len(list); i += 2 {
		k, _ := list[i].(string)
		val, _ := list[i+1].(string)
		r[k] = val
	}
	return r
}

// trust is the start and completion scripts' argument that says whose enrolled
// factors a verification by client may use (prelude.lua: trusts): "*" for every
// client's, else "|client|a|b|".
func (s *Service) trust(client string) string {
	if s.factors == nil || s.factors.Trust == nil {
		return "|" + client + "|"
	}
	all, others := s.factors.Trust.TrustedEnrollers(client)
	if all {
		return "*"
	}
	return "|" + strings.Join(append([]string{client}, others...), "|") + "|"
}

// trusts reports whether a verification whose trust argument is trust may use a
// factor enrolled through client, as prelude.lua's trusts does.
func trusts(trust, client string) bool {
	return trust == "*" || (client != "" && strings.Contains(trust, "|"+client+"|"))
}

// usable are the factors of kind that may complete the verification: those
// enrolled before it was created, through a client its client trusts.
func (st *factorState) usable(kind identity.Kind, trust string) []identity.Factor {
	created := st.rec.time("ct")
	var out []identity.Factor
	for _, f := range st.factors {
		if f.Kind == kind && f.Created.Before(created) && trusts(trust, f.Client) {
			out = append(out, f)
		}
	}
	return out
}

// SubmitTOTP checks an authenticator-app code typed on the page: one read, then
// one script. The matched step must be newer than the customer's last accepted
// step, so a code is accepted once across all the customer's verifications (the
// enrollment's confirmation code included); the next step's code and older ones
// never match. A wrong code counts like any wrong code.
func (s *Service) SubmitTOTP(ctx context.Context, token, code, requestID, binding string) (Result, error) {
	code, err := verify.NormalizeTOTP(code)
	if err != nil {
		return Result{}, ErrCodeFormat
	}
	st, err := s.readFactors(ctx, token)
	if err != nil {
		return Result{}, err
	}
	now := s.now()
	trust := s.trust(st.rec["cl"])
	fid, step := "", int64(0)
	for _, f := range st.usable(identity.KindTOTP, trust) {
		seed, err := s.factors.Seeds.Open(f.SealedSeed, []byte(st.rec["ck"]+f.ID))
		if err != nil {
			return Result{}, fmt.Errorf("%w: open seed: %w", ErrUnavailable, err)
		}
		if n, ok := verify.MatchTOTP(seed, code, now, st.lastStep); ok && fid == "" {
			fid, step = f.ID, n
		}
		clear(seed)
	}
	args := append(append([]any{requestField(s.keys, "page", requestID), fid, step, s.verifiedTTL().Milliseconds()},
		s.failureArgs()...), binding, trust)
	reply, err := s.store.run(ctx, totpScript, []string{recordKey(st.id), identityKey(st.id), st.ckey}, ms(now), args...)
	if err != nil {
		return Result{}, err
	}
	return s.pageResult("totp", reply)
}

// ceremonyKey holds a verification's pending passkey ceremony.
func ceremonyKey(id string) string { return recordKey(id) + ":s" }

// BeginPasskey starts a passkey ceremony for the page's verification and returns
// the options for navigator.credentials.get as JSON. Only passkeys enrolled before
// the verification started are allowed; user verification is required when the
// verification needs HIGH and preferred otherwise. The ceremony is kept beside the
// record until it is finished or times out.
func (s *Service) BeginPasskey(ctx context.Context, token string) ([]byte, error) {
	st, err := s.readFactors(ctx, token)
	if err != nil {
		return nil, err
	}
	if State(st.rec.int("st")) != Pending || !bytes.ContainsRune([]byte(st.rec["em"]), rune('0'+WebAuthn)) {
		return nil, ErrNotFound
	}
	keys := st.usable(identity.KindPasskey, s.trust(st.rec["cl"]))
	uv := protocol.VerificationPreferred
	if assurance.Level(st.rec.int("mi")) >= assurance.High {
		uv = protocol.VerificationRequired
		// A passkey capped below HIGH could only fail, and count as a wrong attempt.
		keys = slices.DeleteFunc(keys, func(f identity.Factor) bool {
			return f.Passkey.MaxLevel != 0 && f.Passkey.MaxLevel < assurance.High
		})
	}
	if len(keys) == 0 {
		return nil, ErrNotFound
	}
	user := identity.NewPasskeyUser(s.keys, st.rec["cu"], st.rec["hm"], keys)
	var allow []protocol.CredentialDescriptor
	for _, c := range user.WebAuthnCredentials() {
		allow = append(allow, c.Descriptor())
	}
	opts, session, err := s.factors.WebAuthn.BeginLogin(user, webauthn.WithUserVerification(uv),
		webauthn.WithAllowedCredentials(allow))
	if err != nil {
		return nil, fmt.Errorf("%w: begin login: %w", ErrUnavailable, err)
	}
	// The ceremony's end is judged by the service clock, like every expiry.
	session.Expires = s.now().Add(s.factors.CeremonyTimeout)
	opts.Response.Timeout = int(s.factors.CeremonyTimeout.Milliseconds())
	blob, err := json.Marshal(session)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	reply, err := s.store.run(ctx, pkbeginScript, []string{recordKey(st.id), identityKey(st.id), ceremonyKey(st.id)},
		ms(s.now()), string(blob), s.factors.CeremonyTimeout.Milliseconds())
	if err != nil {
		return nil, err
	}
	switch status(reply) {
	case "ok":
	case "locked":
		return nil, &LockedError{RetryAfter: time.Duration(intAt(reply, 1)) * time.Millisecond}
	default:
		return nil, ErrNotFound
	}
	out, err := json.Marshal(opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return out, nil
}

// LockedError says the identity's method family is locked for RetryAfter.
type LockedError struct{ RetryAfter time.Duration }

func (e *LockedError) Error() string { return "challenge: method locked for this identity" }

// FinishPasskey checks the response to the page's passkey ceremony: one read (the
// ceremony, the record and the customer's passkeys), the signature checked by
// go-webauthn against the relying party's ID and origins, then one script that
// consumes the ceremony, checks the factor still stands and advances its sign
// counter. HIGH needs the response's own UV flag; without it the passkey earns
// SUBSTANTIAL, which completes only a verification that accepts it. A response
// that does not check out counts as a wrong attempt; one with no ceremony to
// finish (replayed, timed out, finished already) or that is not a WebAuthn
// response at all is OutcomeCeremony and counts nothing.
func (s *Service) FinishPasskey(ctx context.Context, token string, body []byte, requestID, binding string) (Result, error) {
	parsed, perr := protocol.ParseCredentialRequestResponseBytes(body)
	st, err := s.readFactors(ctx, token)
	if err != nil {
		return Result{}, err
	}
	if st.ceremony == "" {
		s.metrics.observeAttempt("passkey", "ceremony")
		return Result{Outcome: OutcomeCeremony}, nil
	}
	var session webauthn.SessionData
	if err := json.Unmarshal([]byte(st.ceremony), &session); err != nil {
		return Result{}, fmt.Errorf("%w: malformed ceremony", ErrUnavailable)
	}
	now := s.now()
	if !now.Before(session.Expires) {
		s.metrics.observeAttempt("passkey", "ceremony")
		return Result{Outcome: OutcomeCeremony}, nil
	}
	if perr != nil {
		// Not a WebAuthn response at all: nothing to check, nothing counted.
		s.metrics.observeAttempt("passkey", "ceremony")
		return Result{Outcome: OutcomeCeremony}, nil
	}
	trust := s.trust(st.rec["cl"])
	keys := st.usable(identity.KindPasskey, trust)
	user := identity.NewPasskeyUser(s.keys, st.rec["cu"], st.rec["hm"], keys)
	// go-webauthn judges expiry by the wall clock; the service's clock judged it above.
	check := session
	check.Expires = time.Time{}
	ok, fid, count, level, vx := "0", "", uint32(0), assurance.Substantial, ""
	if cred, verr := s.factors.WebAuthn.ValidateLogin(user, check, parsed); verr == nil {
		if f, found := identity.FactorByCredential(keys, cred.ID); found {
			flags := parsed.Response.AuthenticatorData.Flags
			ok, fid, count = "1", f.ID, parsed.Response.AuthenticatorData.Counter
			if flags.HasUserVerified() {
				level, vx = assurance.High, "u"
			}
			if f.Passkey.MaxLevel != 0 && level > f.Passkey.MaxLevel {
				// Bound after a weaker proof: the passkey never earns more than it.
				level = f.Passkey.MaxLevel
			}
			if f.Passkey.BackupEligible {
				vx += "b"
			}
		}
	} else {
		s.log.InfoContext(ctx, "passkey response refused", "verification_id", st.id, "reason", webauthnReason(verr))
	}
	rf := requestField(s.keys, "passkey", requestID+"."+session.Challenge)
	args := append(append([]any{rf, st.ceremony, fid, count, ok, int(level), max(st.rec.int("mi"), int(assurance.Low)), vx,
		s.verifiedTTL().Milliseconds()}, s.failureArgs()...), binding, trust)
	reply, err := s.store.run(ctx, passkeyScript,
		[]string{recordKey(st.id), identityKey(st.id), st.ckey, ceremonyKey(st.id)}, ms(now), args...)
	if err != nil {
		return Result{}, err
	}
	if status(reply) == "ceremony" {
		s.metrics.observeAttempt("passkey", "ceremony")
		return Result{Outcome: OutcomeCeremony}, nil
	}
	if len(reply) > 1 && reply[len(reply)-1] == "regression" {
		s.metrics.observeAttempt("passkey", "counter_regression")
		s.log.WarnContext(ctx, "passkey sign counter did not grow: possible cloned authenticator",
			"verification_id", st.id, "factor_id", fid)
	}
	return s.pageResult("passkey", reply)
}

// webauthnReason is go-webauthn's short description of a refusal: the library's
// fixed texts, which name no credential, user or secret.
func webauthnReason(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Type + ": " + pe.Details
	}
	return "invalid response"
}

// amrPasskey returns the amr values of a passkey completion with flags vx.
func amrPasskey(vx string) []string {
	out := []string{assurance.AMRHWK}
	if bytes.ContainsRune([]byte(vx), 'b') {
		// A backup-eligible (synced) passkey's key is not bound to one device.
		out = []string{assurance.AMRSWK}
	}
	if bytes.ContainsRune([]byte(vx), 'u') {
		out = append(out, assurance.AMRUser)
	}
	return out
}

// startedLabel is the started metric's method label: the delivered method, or
// the first enrolled method offered.
func startedLabel(sent Method, reply []any) string {
	if sent != 0 {
		return sent.String()
	}
	if em, _ := replyString(reply, 1); em != "" {
		return Method(em[0] - '0').String()
	}
	return "none"
}

// replyString returns element i of a script reply as a string.
func replyString(reply []any, i int) (string, bool) {
	if i >= len(reply) {
		return "", false
	}
	s, ok := reply[i].(string)
	return s, ok
}
