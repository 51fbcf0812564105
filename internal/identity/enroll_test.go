package identity

import (
	"bytes"
	"encoding/base32"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"

	"github.com/authsvc/authsvc/internal/keyedhash"
	"github.com/authsvc/authsvc/internal/verify"
)

// codeAt is the TOTP code of secret for step.
func codeAt(t testing.TB, secret []byte, step int64) string {
	t.Helper()
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
	c, err := hotp.GenerateCodeCustom(b32, uint64(step), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wrongCode(right string) string {
	if right == "000000" {
		return "000001"
	}
	return "000000"
}

func TestEnrollmentLink(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u, e, err := f.store.CreateEnrollment(f.ctx, "platform-a", "cust-42", KindTOTP, "es-MX", nil)
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimPrefix(u, "https://verify.example.com/e/")
	id, mac, _ := strings.Cut(token, ".")
	if len(id) != enrollIDLen || !strings.HasPrefix(id, CustomerTag(f.keys, "cust-42")+"-") || len(mac) != 22 || id != e.ID {
		t.Fatalf("token %q has the wrong shape", token)
	}
	if strings.Contains(u, "cust-42") {
		t.Fatal("the link names the customer")
	}
	got, err := f.store.OpenEnrollment(f.ctx, token, "")
	if err != nil {
		t.Fatalf("OpenEnrollment: %v", err)
	}
	want := Enrollment{ID: id, ClientID: "platform-a", CustomerID: "cust-42", Locale: "es-MX", Kind: KindTOTP,
		Created: f.clock.Now(), Expires: f.clock.Now().Add(15 * time.Minute)}
	if !got.Created.Equal(want.Created) || !got.Expires.Equal(want.Expires) {
		t.Fatalf("times = %v..%v; want %v..%v", got.Created, got.Expires, want.Created, want.Expires)
	}
	got.Created, got.Expires, want.Created, want.Expires = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if *got != want {
		t.Fatalf("OpenEnrollment = %+v; want %+v", *got, want)
	}
	if ttl := f.rdb.PTTL(f.ctx, EnrollmentKey(id)).Val(); ttl <= 14*time.Minute || ttl > 15*time.Minute {
		t.Fatalf("enrollment TTL = %v", ttl)
	}
	// Reading twice changes nothing.
	if _, err := f.store.OpenEnrollment(f.ctx, token, ""); err != nil {
		t.Fatal(err)
	}

	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	for name, bad := range map[string]string{
		"empty": "", "no mac": id, "bad mac": flip(token, len(token)-3), "other id": flip(token, 10),
		"short": token[:len(token)-1], "upper": strings.ToUpper(id) + "." + mac, "junk": "../../etc/passwd",
	} {
		if _, err := f.store.OpenEnrollment(f.ctx, bad, ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: OpenEnrollment = %v; want ErrNotFound", name, err)
		}
	}

	// After a key rotation, links MACed under the old key still open.
	rotated, err := keyedhash.NewRing(keyedhash.Key{ID: "k2", Secret: bytes.Repeat([]byte{7}, 32)},
		keyedhash.Key{ID: "k1", Secret: bytes.Repeat([]byte{42}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	s2 := *f.store
	s2.keys = rotated
	if _, err := s2.OpenEnrollment(f.ctx, token, ""); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
}

func TestEnrollmentExpires(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	token := f.enroll("cust-42", KindTOTP)
	_, secret, err := f.store.BeginTOTP(f.ctx, token, "")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(15*time.Minute - time.Millisecond)
	if _, err := f.store.OpenEnrollment(f.ctx, token, ""); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	f.clock.Advance(time.Millisecond)
	if _, err := f.store.OpenEnrollment(f.ctx, token, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("OpenEnrollment after expiry = %v; want ErrNotFound", err)
	}
	if _, _, err := f.store.BeginTOTP(f.ctx, token, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("BeginTOTP after expiry = %v; want ErrNotFound", err)
	}
	code := codeAt(t, secret, verify.TOTPStep(f.clock.Now()))
	if _, err := f.store.ConfirmTOTP(f.ctx, token, code, "", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ConfirmTOTP after expiry = %v; want ErrNotFound", err)
	}
	if fs := f.factors("cust-42"); len(fs) != 0 {
		t.Fatalf("factors = %+v", fs)
	}
	p := f.enroll("cust-42", KindPasskey)
	f.clock.Advance(15 * time.Minute)
	if _, err := f.store.BeginPasskey(f.ctx, p, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("BeginPasskey after expiry = %v; want ErrNotFound", err)
	}
}

func TestTOTPEnrollment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		back int64 // the code's step, counted back from the current one
	}{{"current step", 0}, {"previous step", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			token := f.enroll("cust-42", KindTOTP)
			id, _, _ := strings.Cut(token, ".")

			uri, secret, err := f.store.BeginTOTP(f.ctx, token, "")
			if err != nil {
				t.Fatalf("BeginTOTP: %v", err)
			}
			if len(secret) != 20 {
				t.Fatalf("secret is %d bytes", len(secret))
			}
			// The key is shown once: a second begin (a refreshed page, or whoever
			// else holds the link) shows nothing.
			uri2, secret2, err := f.store.BeginTOTP(f.ctx, token, "")
			if !errors.Is(err, ErrSeedShown) || uri2 != "" || secret2 != nil {
				t.Fatalf("second BeginTOTP = %q, %d bytes, %v; want ErrSeedShown and nothing", uri2, len(secret2), err)
			}
			pu, err := url.Parse(uri)
			if err != nil || pu.Scheme != "otpauth" || pu.Query().Get("issuer") != testBrand {
				t.Fatalf("uri %q: %v", uri, err)
			}
			if label, _ := url.PathUnescape(pu.EscapedPath()); label != "/Brand:Brand customer" || strings.Contains(uri, "cust-42") {
				t.Fatalf("uri label %q; want the brand and a fixed label", label)
			}
			f.checkNoSeed(secret)

			now := f.clock.Now()
			step := verify.TOTPStep(now) - tc.back
			fac, err := f.store.ConfirmTOTP(f.ctx, token, codeAt(t, secret, step), "", "")
			if err != nil {
				t.Fatalf("ConfirmTOTP: %v", err)
			}
			if fac.Kind != KindTOTP || fac.Label != "Authenticator app" || !validFactorID(fac.ID) || !fac.Created.Equal(now) {
				t.Fatalf("factor = %+v", fac)
			}
			fs := f.factors("cust-42")
			if len(fs) != 1 || fs[0].ID != fac.ID || fs[0].SealedSeed != fac.SealedSeed {
				t.Fatalf("Factors = %+v", fs)
			}
			if strings.Contains(fac.SealedSeed, b32text(secret)) || bytes.Contains([]byte(fac.SealedSeed), secret) {
				t.Fatal("SealedSeed holds the seed in clear")
			}
			ch := CustomerHash(f.keys, "cust-42")
			opened, err := f.seals.Open(fs[0].SealedSeed, SeedAAD(ch, fac.ID))
			if err != nil || !bytes.Equal(opened, secret) {
				t.Fatalf("stored seed does not open to the secret: %v", err)
			}
			if _, err := f.seals.Open(fs[0].SealedSeed, []byte(id)); err == nil {
				t.Fatal("stored seed still opens as the enrollment's")
			}
			h := f.customerHash("cust-42")
			if h["ts"] != strconv.FormatInt(step, 10) {
				t.Fatalf("ts = %q; want the matched step %d", h["ts"], step)
			}
			if h["cu"] != "cust-42" {
				t.Fatalf("cu = %q", h["cu"])
			}
			f.checkNoSeed(secret)
			f.checkTTLs()
			if ttl := f.rdb.PTTL(f.ctx, CustomerKeyFor(f.keys, "cust-42")).Val(); ttl < 399*24*time.Hour {
				t.Fatalf("customer TTL = %v; want the retention", ttl)
			}

			// The link is used up.
			if _, err := f.store.OpenEnrollment(f.ctx, token, ""); !errors.Is(err, ErrNotFound) {
				t.Fatalf("OpenEnrollment after use = %v; want ErrNotFound", err)
			}
			if _, _, err := f.store.BeginTOTP(f.ctx, token, ""); !errors.Is(err, ErrNotFound) {
				t.Fatalf("BeginTOTP after use = %v; want ErrNotFound", err)
			}
			if _, err := f.store.ConfirmTOTP(f.ctx, token, codeAt(t, secret, verify.TOTPStep(now)), "", ""); !errors.Is(err, ErrNotFound) {
				t.Fatalf("ConfirmTOTP after use = %v; want ErrNotFound", err)
			}
			if len(f.factors("cust-42")) != 1 {
				t.Fatal("a second factor was stored")
			}
			if strings.Contains(f.logs.String(), b32text(secret)) {
				t.Fatal("the secret reached the log")
			}
		})
	}
}

func b32text(b []byte) string { return b32.EncodeToString(b) }

// checkNoSeed fails when any key, field or value in Redis holds the seed in clear,
// raw or base32 (either case).
func (f *fixture) checkNoSeed(seed []byte) {
	f.t.Helper()
	enc := b32text(seed)
	for _, v := range f.allValues() {
		if bytes.Contains([]byte(v), seed) || strings.Contains(v, enc) || strings.Contains(v, strings.ToLower(enc)) {
			f.t.Fatal("Redis holds the TOTP seed in clear")
		}
	}
}

func TestTOTPWrongCodes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	token := f.enroll("cust-42", KindTOTP)
	id, _, _ := strings.Cut(token, ".")
	_, secret, err := f.store.BeginTOTP(f.ctx, token, "")
	if err != nil {
		t.Fatal(err)
	}
	right := codeAt(t, secret, verify.TOTPStep(f.clock.Now()))
	// A code of the wrong shape is a wrong code too, and counts.
	attempts := []string{wrongCode(right), "12a456", "", codeAt(t, secret, verify.TOTPStep(f.clock.Now())+1), wrongCode(right)}
	for i, code := range attempts {
		_, err := f.store.ConfirmTOTP(f.ctx, token, code, "", "")
		var ce *CodeError
		if !errors.Is(err, ErrWrongCode) || !errors.As(err, &ce) || ce.AttemptsLeft != 4-i {
			t.Fatalf("attempt %d: err = %v; want a wrong code with %d left", i+1, err, 4-i)
		}
		if strings.Contains(err.Error(), code) && code != "" {
			t.Fatal("the error names the code")
		}
	}
	// The link is dead: even the right code is refused, and the seed is gone.
	if _, err := f.store.ConfirmTOTP(f.ctx, token, right, "", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("right code on a dead link = %v; want ErrNotFound", err)
	}
	if _, err := f.store.OpenEnrollment(f.ctx, token, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("OpenEnrollment of a dead link = %v; want ErrNotFound", err)
	}
	e := f.rdb.HGetAll(f.ctx, EnrollmentKey(id)).Val()
	if e["st"] != "3" || e["at"] != "5" || e["sd"] != "" {
		t.Fatalf("dead enrollment: st=%q at=%q sd present=%v", e["st"], e["at"], e["sd"] != "")
	}
	if len(f.factors("cust-42")) != 0 {
		t.Fatal("a factor was stored")
	}
}

func TestConfirmTOTPRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// Before BeginTOTP there is no seed to confirm.
	token := f.enroll("cust-42", KindTOTP)
	if _, err := f.store.ConfirmTOTP(f.ctx, token, "123456", "", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ConfirmTOTP before BeginTOTP = %v; want ErrNotFound", err)
	}
	// A passkey link is not a TOTP link, and the reverse.
	p := f.enroll("cust-42", KindPasskey)
	if _, _, err := f.store.BeginTOTP(f.ctx, p, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("BeginTOTP on a passkey link = %v; want ErrNotFound", err)
	}
	if _, err := f.store.BeginPasskey(f.ctx, token, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("BeginPasskey on a TOTP link = %v; want ErrNotFound", err)
	}
}

// Parallel confirmations of one valid code store exactly one factor.
func TestTOTPParallelConfirm(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	token := f.enroll("cust-42", KindTOTP)
	_, secret, err := f.store.BeginTOTP(f.ctx, token, "")
	if err != nil {
		t.Fatal(err)
	}
	code := codeAt(t, secret, verify.TOTPStep(f.clock.Now()))
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.store.ConfirmTOTP(f.ctx, token, code, "", "")
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrNotFound):
			t.Errorf("unexpected error %v", err)
		}
	}
	if fs := f.factors("cust-42"); ok != 1 || len(fs) != 1 {
		t.Fatalf("%d confirmations succeeded, %d factors stored; want 1 and 1", ok, len(fs))
	}
}

// A retried confirmation request (a lost reply) answers the same and counts once.
func TestTOTPConfirmRetryCountsOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	token := f.enroll("cust-42", KindTOTP)
	id, _, _ := strings.Cut(token, ".")
	if _, _, err := f.store.BeginTOTP(f.ctx, token, ""); err != nil {
		t.Fatal(err)
	}
	e := f.rdb.HGetAll(f.ctx, EnrollmentKey(id)).Val()
	args := []any{ms(f.clock.Now()), "rsame", e["sd"], "wrong", 5}
	keys := []string{EnrollmentKey(id), CustomerKey(id[:TagLen], e["ch"])}
	for range 3 {
		st, reply, err := f.store.runList(f.ctx, totpConfirmScript, keys, args...)
		if err != nil || st != "wrong" || strAt(reply, 1) != "4" {
			t.Fatalf("retry = %q %v %v; want wrong with 4 left", st, reply, err)
		}
	}
	if at := f.rdb.HGet(f.ctx, EnrollmentKey(id), "at").Val(); at != "1" {
		t.Fatalf("at = %s; want 1", at)
	}
}
