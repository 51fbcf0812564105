package identity

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/authsvc/authsvc/internal/assurance"
	"github.com/authsvc/authsvc/internal/verify"
)

// An enrollment link is "<id>.<mac>": the id is "<ctag>-<20 random lower-case
// base32 characters>" (100 bits), the MAC the first 16 bytes of a keyed hash of
// the id, base64url (22 characters). Nothing about the MAC is stored: it is
// recomputed, under every key of the ring so that a key rotation does not break
// the links already sent. The id alone is not a secret (it may be logged); the
// link is.
const (
	enrollBodyLen = 20
	enrollIDLen   = TagLen + 1 + enrollBodyLen
	enrollMACLen  = 22
)

// enrollOpen is the state ('st') of an open enrollment; the scripts move it to
// 2 (used) or 3 (dead).
const enrollOpen = "1"

// The labels of newly enrolled factors.
const (
	totpLabel    = "Authenticator app"
	passkeyLabel = "Passkey"
)

var localePattern = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$`)

// Enrollment is an open enrollment link: one factor of one kind for one customer.
type Enrollment struct {
	ID, ClientID, CustomerID, Locale string
	Kind                             Kind
	Created, Expires                 time.Time
	// Bound is true when the link works only in the browser that completed the
	// verification that proved it (every link a Proof allowed).
	Bound bool
	// FirstFactor is true for a first factor after a LOW proof: the proven
	// contact is told once the factor is added.
	FirstFactor bool
}

// enrollMAC is the MAC of an enrollment id under key kid.
func (s *Store) enrollMAC(kid, id string) (string, error) {
	h, err := s.keys.SumWith(kid, "enroll-link", []byte(id))
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(h[:16]), nil
}

// parseToken returns the enrollment id of a link token whose shape and MAC check
// out; anything else is ErrNotFound.
func (s *Store) parseToken(token string) (string, error) {
	id, mac, ok := strings.Cut(token, ".")
	if !ok || len(id) != enrollIDLen || id[TagLen] != '-' || len(mac) != enrollMACLen ||
		!isLowerB32(id[:TagLen]) || !isLowerB32(id[TagLen+1:]) {
		return "", ErrNotFound
	}
	for _, kid := range s.keys.IDs() {
		want, err := s.enrollMAC(kid, id)
		if err == nil && hmac.Equal([]byte(want), []byte(mac)) {
			return id, nil
		}
	}
	return "", ErrNotFound
}

// CreateEnrollment records a one-time enrollment link for a customer and returns
// its URL and the enrollment. kind is KindTOTP or KindPasskey; locale is a BCP 47
// tag ("en" when empty). proof is the verification that allows it, judged by the
// binding rule (see Proof): the link then works only in the browser that completed
// that verification. A nil proof (a client with the may_enroll grant) makes a
// bearer link: a secret for the customer only. A proof the rule refuses is a
// *ProofError (a LOW proof while the customer holds a factor), a *ValidationError
// on "destination" (a LOW proof without its contact), or ErrProofUnbound; nothing
// is created then.
func (s *Store) CreateEnrollment(ctx context.Context, clientID, customerID string, kind Kind, locale string, proof *Proof) (string, *Enrollment, error) {
	if err := checkClientID(clientID); err != nil {
		return "", nil, err
	}
	if err := checkCustomerID(customerID); err != nil {
		return "", nil, err
	}
	if kind != KindTOTP && kind != KindPasskey {
		return "", nil, &ValidationError{Field: "method", Description: "must be TOTP or WEBAUTHN"}
	}
	if locale == "" {
		locale = "en"
	}
	if !localePattern.MatchString(locale) {
		return "", nil, &ValidationError{Field: "locale", Description: "must be a BCP 47 tag like en or es-MX"}
	}
	ctag, ch := CustomerTag(s.keys, customerID), CustomerHash(s.keys, customerID)
	body, err := s.randomB32(enrollBodyLen)
	if err != nil {
		return "", nil, err
	}
	id := ctag + "-" + body
	mac, err := s.enrollMAC(s.keys.Current(), id)
	if err != nil {
		return "", nil, unavailable(err)
	}
	pf, bootstrap, contactMissing, err := s.proofFields(id, kind, proof)
	if err != nil {
		return "", nil, err
	}
	now := s.now()
	e := &Enrollment{ID: id, ClientID: clientID, CustomerID: customerID, Locale: locale, Kind: kind,
		Created: time.UnixMilli(now.UnixMilli()), Expires: time.UnixMilli(now.Add(s.cfg.EnrollTTL).UnixMilli()),
		Bound: proof != nil, FirstFactor: bootstrap}
	args := append([]any{ms(now), s.cfg.EnrollTTL.Milliseconds(), flag(bootstrap), flag(contactMissing), s.trustArg(clientID),
		"st", enrollOpen, "cl", clientID, "ch", ch, "cu", customerID, "kd", int(kind), "lo", locale,
		"ct", ms(e.Created), "ex", ms(e.Expires), "at", 0}, pf...)
	st, _, err := s.runList(ctx, enrollCreateScript, []string{EnrollmentKey(id), CustomerKey(ctag, ch)}, args...)
	if err != nil {
		return "", nil, err
	}
	if err := checkProofStatus(st); err != nil {
		return "", nil, err
	}
	if st == "erasing" {
		return "", nil, errErasing
	}
	if st != "ok" {
		return "", nil, fmt.Errorf("%w: enrollment id collision", ErrUnavailable)
	}
	return s.cfg.PublicURL.JoinPath("e", id+"."+mac).String(), e, nil
}

// flag is a script's boolean argument.
func flag(b bool) string {
	if b {
		return "1"
	}
	return ""
}

// enrollment is an enrollment hash as read.
type enrollment map[string]string

// factorClient is the client a factor bound on this enrollment records: the client
// of the factor that proved the enrollment ('oc'), else the enrolling client.
func (e enrollment) factorClient() string {
	if e["oc"] != "" {
		return e["oc"]
	}
	return e["cl"]
}

func (e enrollment) open(kind Kind, now time.Time) bool {
	ex, err := strconv.ParseInt(e["ex"], 10, 64)
	return e["st"] == enrollOpen && err == nil && now.UnixMilli() < ex && e["kd"] == strconv.Itoa(int(kind))
}

// load reads an enrollment; a missing one is ErrNotFound.
func (s *Store) load(ctx context.Context, id string) (enrollment, error) {
	m, err := s.rdb.HGetAll(ctx, EnrollmentKey(id)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	if len(m) == 0 {
		return nil, ErrNotFound
	}
	return enrollment(m), nil
}

// OpenEnrollment reads an enrollment link for its page. It changes nothing (link
// unfurlers fetch every link). Unknown, malformed, forged, expired (by the stored
// expiry and the service clock), used and dead links are all ErrNotFound; a link
// bound to another browser than binding (the keyed hash of the browser asking,
// "" for none) is ErrWrongBrowser.
func (s *Store) OpenEnrollment(ctx context.Context, token, binding string) (*Enrollment, error) {
	id, err := s.parseToken(token)
	if err != nil {
		return nil, err
	}
	e, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	// The browser first: to anyone but its own browser, a bound link answers the
	// same whether it is open, used or expired (a reader of the DM learns nothing).
	if !e.bound(binding) {
		return nil, ErrWrongBrowser
	}
	kd, err := strconv.Atoi(e["kd"])
	if err != nil || !e.open(Kind(kd), s.now()) {
		return nil, ErrNotFound
	}
	ct, err1 := strconv.ParseInt(e["ct"], 10, 64)
	ex, err2 := strconv.ParseInt(e["ex"], 10, 64)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%w: malformed enrollment", ErrUnavailable)
	}
	return &Enrollment{ID: id, ClientID: e["cl"], CustomerID: e["cu"], Locale: e["lo"], Kind: Kind(kd),
		Created: time.UnixMilli(ct), Expires: time.UnixMilli(ex), Bound: e["bb"] != "", FirstFactor: e["bs"] == "1"}, nil
}

// BeginTOTP starts a TOTP enrollment (a POST from the page): it draws a seed,
// keeps it sealed in the enrollment, and returns the otpauth URI and the seed for
// the page to show, once: a second begin on the same enrollment is ErrSeedShown and
// shows nothing (the customer asks for a new enrollment). The URI names the brand
// and a fixed label, never the customer. binding is the keyed hash of the browser
// asking; a link bound to another browser is ErrWrongBrowser.
func (s *Store) BeginTOTP(ctx context.Context, token, binding string) (uri string, secret []byte, err error) {
	id, err := s.parseToken(token)
	if err != nil {
		return "", nil, err
	}
	fresh, err := verify.NewTOTPSecret(s.random)
	if err != nil {
		return "", nil, unavailable(err)
	}
	sealed, err := s.seals.Seal(s.random, fresh, []byte(id))
	if err != nil {
		clear(fresh)
		return "", nil, unavailable(err)
	}
	st, _, err := s.runList(ctx, totpBeginScript, []string{EnrollmentKey(id)}, ms(s.now()), sealed, binding)
	if err != nil {
		clear(fresh)
		return "", nil, err
	}
	if err := checkProofStatus(st); err != nil {
		clear(fresh)
		return "", nil, err
	}
	if st != "ok" {
		clear(fresh)
		return "", nil, ErrNotFound
	}
	return verify.TOTPKeyURI(fresh, s.cfg.Brand, s.label()), fresh, nil
}

// ConfirmTOTP finishes a TOTP enrollment with the first code the customer's app
// shows. A right code (current or previous time step) uses the link up and stores
// the factor, its seed sealed to the customer and factor, and the audit trail
// records factor_enrolled for the client that created the link; the customer's last
// accepted step moves to the matched step, so the confirmation code can never
// complete a verification. A first factor after a LOW proof is stored only once
// its notice left for the proven contact (ErrNotice when it could not: nothing is
// stored or counted) and only while the customer holds no factor (a *ProofError
// otherwise). A wrong code (a malformed one included) is a *CodeError;
// MaxCodeAttempts of them kill the link. A link that is not open, or whose TOTP
// enrollment was not begun, is ErrNotFound; one bound to another browser than
// binding is ErrWrongBrowser. requestID (the form's nonce) makes a repeated
// submission answer as the first and count once; "" de-duplicates nothing.
func (s *Store) ConfirmTOTP(ctx context.Context, token, code, requestID, binding string) (*Factor, error) {
	id, err := s.parseToken(token)
	if err != nil {
		return nil, err
	}
	e, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if requestID == "" {
		// No request id: this call is its own request (nothing to de-duplicate).
		if requestID, err = s.randomB32(16); err != nil {
			return nil, err
		}
	}
	req := base64.RawURLEncoding.EncodeToString(s.keys.Name("enroll-request", []byte(requestID))[:12])
	if prior, seen := e["r"+req]; seen && e.bound(binding) {
		// A repeated submission (a double tap, a retried POST): the first answer.
		return confirmAnswer(prior, e)
	}
	if !e.bound(binding) {
		return nil, ErrWrongBrowser
	}
	now := s.now()
	sd := e["sd"]
	if !e.open(KindTOTP, now) || sd == "" {
		return nil, ErrNotFound
	}
	ch, cu := e["ch"], e["cu"]
	if ch == "" || cu == "" {
		return nil, fmt.Errorf("%w: malformed enrollment", ErrUnavailable)
	}
	seed, err := s.seals.Open(sd, []byte(id))
	if err != nil {
		return nil, unavailable(err)
	}
	defer clear(seed)
	step, ok := int64(0), false
	if normalized, err := verify.NormalizeTOTP(code); err == nil {
		step, ok = verify.MatchTOTP(seed, normalized, now, -1)
	}
	args := []any{ms(now), "r" + req, sd}
	keys := []string{EnrollmentKey(id), CustomerKey(id[:TagLen], ch)}
	var f *Factor
	if ok {
		fid, err := s.randomB32(factorIDLen)
		if err != nil {
			return nil, err
		}
		// The stored factor's seed is bound to the customer and the factor, no
		// longer to the enrollment.
		resealed, err := s.seals.Seal(s.random, seed, SeedAAD(ch, fid))
		if err != nil {
			return nil, unavailable(err)
		}
		f = &Factor{ID: fid, Kind: KindTOTP, Client: e.factorClient(), Label: totpLabel, Created: time.UnixMilli(now.UnixMilli()),
			SealedSeed: resealed}
		v, err := f.Encode()
		if err != nil {
			return nil, unavailable(err)
		}
		pk, err := s.freshPseudonymKey()
		if err != nil {
			return nil, err
		}
		n, err := s.prepareNotice(id, e, KindTOTP)
		if err != nil {
			return nil, err
		}
		if err := s.send(ctx, n, id); err != nil {
			return nil, err
		}
		rkeys, rargs := s.reportArgs(n)
		keys = append(keys, rkeys...)
		args = append(args, "ok", s.cfg.MaxCodeAttempts, fid, v, step, cu, s.cfg.Retention.Milliseconds(), pk)
		args = append(args, rargs...)
	} else {
		args = append(args, "wrong", s.cfg.MaxCodeAttempts, "", "", 0, "", 0, "", "", 0)
	}
	args = append(args, s.trustArg(e["cl"]))
	st, reply, err := s.runList(ctx, totpConfirmScript, keys, args...)
	if err != nil {
		return nil, err
	}
	switch st {
	case "ok":
		if f == nil {
			// A repeat that raced the first submission past the load above.
			return &Factor{Kind: KindTOTP, Client: e.factorClient(), Label: totpLabel}, nil
		}
		return f, nil
	case "factors":
		return nil, &ProofError{Need: assurance.Substantial}
	case "wrong":
		left, _ := strconv.Atoi(strAt(reply, 1))
		return nil, &CodeError{AttemptsLeft: left}
	case "dead":
		s.log.Info("enrollment link died: too many wrong codes", "enrollment", id)
		return nil, &CodeError{AttemptsLeft: 0}
	}
	return nil, ErrNotFound
}

// confirmAnswer is the answer a TOTP confirmation recorded for its request id
// (totp_confirm.lua), given again to a repeat of that request.
func confirmAnswer(recorded string, e enrollment) (*Factor, error) {
	var out []any
	if err := json.Unmarshal([]byte(recorded), &out); err != nil || len(out) == 0 {
		return nil, fmt.Errorf("%w: malformed recorded answer", ErrUnavailable)
	}
	st, _ := out[0].(string)
	switch st {
	case "ok":
		return &Factor{ID: e["fi"], Kind: KindTOTP, Client: e.factorClient(), Label: totpLabel}, nil
	case "wrong":
		left := 0
		if len(out) > 1 {
			if n, ok := out[1].(float64); ok {
				left = int(n)
			}
		}
		return nil, &CodeError{AttemptsLeft: left}
	case "dead":
		return nil, &CodeError{AttemptsLeft: 0}
	case "factors":
		return nil, &ProofError{Need: assurance.Substantial}
	}
	return nil, ErrNotFound
}
