package identity

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

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
// its URL (a secret: it goes to the customer only) and the enrollment. kind is
// KindTOTP or KindPasskey; locale is a BCP 47 tag ("en" when empty).
func (s *Store) CreateEnrollment(ctx context.Context, clientID, customerID string, kind Kind, locale string) (string, *Enrollment, error) {
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
	now := s.now()
	e := &Enrollment{ID: id, ClientID: clientID, CustomerID: customerID, Locale: locale, Kind: kind,
		Created: time.UnixMilli(now.UnixMilli()), Expires: time.UnixMilli(now.Add(s.cfg.EnrollTTL).UnixMilli())}
	n, err := s.runInt(ctx, enrollCreateScript, []string{EnrollmentKey(id)}, ms(now), s.cfg.EnrollTTL.Milliseconds(),
		"st", enrollOpen, "cl", clientID, "ch", ch, "cu", customerID, "kd", int(kind), "lo", locale,
		"ct", ms(e.Created), "ex", ms(e.Expires), "at", 0)
	if err != nil {
		return "", nil, err
	}
	if n != 1 {
		return "", nil, fmt.Errorf("%w: enrollment id collision", ErrUnavailable)
	}
	return s.cfg.PublicURL.JoinPath("e", id+"."+mac).String(), e, nil
}

// enrollment is an enrollment hash as read.
type enrollment map[string]string

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
// expiry and the service clock), used and dead links are all ErrNotFound.
func (s *Store) OpenEnrollment(ctx context.Context, token string) (*Enrollment, error) {
	id, err := s.parseToken(token)
	if err != nil {
		return nil, err
	}
	e, err := s.load(ctx, id)
	if err != nil {
		return nil, err
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
		Created: time.UnixMilli(ct), Expires: time.UnixMilli(ex)}, nil
}

// BeginTOTP starts a TOTP enrollment (a POST from the page): it draws a seed,
// keeps it sealed in the enrollment, and returns the otpauth URI and the seed for
// the page to show once. A repeat (a refreshed page) returns the seed stored
// first, so the customer's app and the server agree. The URI names the brand and
// a fixed label, never the customer.
func (s *Store) BeginTOTP(ctx context.Context, token string) (uri string, secret []byte, err error) {
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
		return "", nil, unavailable(err)
	}
	st, reply, err := s.runList(ctx, totpBeginScript, []string{EnrollmentKey(id)}, ms(s.now()), sealed)
	if err != nil {
		return "", nil, err
	}
	if st != "ok" {
		return "", nil, ErrNotFound
	}
	secret, err = s.seals.Open(strAt(reply, 1), []byte(id))
	if err != nil {
		return "", nil, unavailable(err)
	}
	return verify.TOTPKeyURI(secret, s.cfg.Brand, s.label()), secret, nil
}

// ConfirmTOTP finishes a TOTP enrollment with the first code the customer's app
// shows. A right code (current or previous time step) uses the link up and stores
// the factor, its seed sealed to the customer and factor, and the audit trail
// records factor_enrolled for the client that created the link; the customer's last
// accepted step moves to the matched step, so the confirmation code can never
// complete a verification. A wrong code (a malformed one included) is a
// *CodeError; MaxCodeAttempts of them kill the link. A link that is not open, or
// whose TOTP enrollment was not begun, is ErrNotFound.
func (s *Store) ConfirmTOTP(ctx context.Context, token, code string) (*Factor, error) {
	id, err := s.parseToken(token)
	if err != nil {
		return nil, err
	}
	e, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	sd := e["sd"]
	if !e.open(KindTOTP, now) || sd == "" {
		return nil, ErrNotFound
	}
	req, err := s.randomB32(16)
	if err != nil {
		return nil, err
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
		f = &Factor{ID: fid, Kind: KindTOTP, Label: totpLabel, Created: time.UnixMilli(now.UnixMilli()), SealedSeed: resealed}
		v, err := f.Encode()
		if err != nil {
			return nil, unavailable(err)
		}
		pk, err := s.freshPseudonymKey()
		if err != nil {
			return nil, err
		}
		args = append(args, "ok", s.cfg.MaxCodeAttempts, fid, v, step, cu, s.cfg.Retention.Milliseconds(), pk)
	} else {
		args = append(args, "wrong", s.cfg.MaxCodeAttempts)
	}
	st, reply, err := s.runList(ctx, totpConfirmScript, []string{EnrollmentKey(id), CustomerKey(id[:TagLen], ch)}, args...)
	if err != nil {
		return nil, err
	}
	switch st {
	case "ok":
		return f, nil
	case "wrong":
		left, _ := strconv.Atoi(strAt(reply, 1))
		return nil, &CodeError{AttemptsLeft: left}
	case "dead":
		s.log.Info("enrollment link died: too many wrong codes", "enrollment", id)
		return nil, &CodeError{AttemptsLeft: 0}
	}
	return nil, ErrNotFound
}
