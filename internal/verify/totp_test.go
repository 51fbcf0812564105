package verify

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// RFC 6238 Appendix B seeds: the ASCII digits repeated to the hash's size.
var (
	rfcSeedSHA1   = []byte("12345678901234567890")
	rfcSeedSHA256 = []byte("12345678901234567890123456789012")
	rfcSeedSHA512 = []byte("1234567890123456789012345678901234567890123456789012345678901234")
)

// testSecret is a fixed 160-bit secret for the window tests.
var testSecret = []byte("\x3d\xc6\xca\xa4\x82\x4a\x6d\x28\x87\x67\xb2\x33\x1e\x20\xb4\x31\x66\xcb\x85\xd9")

// referenceHOTP is RFC 4226 HOTP-SHA1, written out here as an oracle that shares
// no code with the implementation.
func referenceHOTP(secret []byte, counter uint64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, v%mod)
}

// codeAt is the 6-digit code pquerna/otp's own TOTP generator gives for step.
func codeAt(t *testing.T, secret []byte, step int64) string {
	t.Helper()
	c, err := totp.GenerateCode(b32NoPadding.EncodeToString(secret), time.Unix(step*30, 0))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTOTPRFC6238Vectors(t *testing.T) {
	t.Parallel()
	// RFC 6238 Appendix B, all 18 rows.
	tests := []struct {
		unix int64
		alg  otp.Algorithm
		seed []byte
		code string
	}{
		{59, otp.AlgorithmSHA1, rfcSeedSHA1, "94287082"},
		{59, otp.AlgorithmSHA256, rfcSeedSHA256, "46119246"},
		{59, otp.AlgorithmSHA512, rfcSeedSHA512, "90693936"},
		{1111111109, otp.AlgorithmSHA1, rfcSeedSHA1, "07081804"},
		{1111111109, otp.AlgorithmSHA256, rfcSeedSHA256, "68084774"},
		{1111111109, otp.AlgorithmSHA512, rfcSeedSHA512, "25091201"},
		{1111111111, otp.AlgorithmSHA1, rfcSeedSHA1, "14050471"},
		{1111111111, otp.AlgorithmSHA256, rfcSeedSHA256, "67062674"},
		{1111111111, otp.AlgorithmSHA512, rfcSeedSHA512, "99943326"},
		{1234567890, otp.AlgorithmSHA1, rfcSeedSHA1, "89005924"},
		{1234567890, otp.AlgorithmSHA256, rfcSeedSHA256, "91819424"},
		{1234567890, otp.AlgorithmSHA512, rfcSeedSHA512, "93441116"},
		{2000000000, otp.AlgorithmSHA1, rfcSeedSHA1, "69279037"},
		{2000000000, otp.AlgorithmSHA256, rfcSeedSHA256, "90698825"},
		{2000000000, otp.AlgorithmSHA512, rfcSeedSHA512, "38618901"},
		{20000000000, otp.AlgorithmSHA1, rfcSeedSHA1, "65353130"},
		{20000000000, otp.AlgorithmSHA256, rfcSeedSHA256, "77737706"},
		{20000000000, otp.AlgorithmSHA512, rfcSeedSHA512, "47863826"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d/%s", tt.unix, tt.alg), func(t *testing.T) {
			t.Parallel()
			now := time.Unix(tt.unix, 0).UTC()
			want := TOTPStep(now)
			if want != tt.unix/30 {
				t.Fatalf("TOTPStep(%d) = %d, want %d", tt.unix, want, tt.unix/30)
			}
			match := func(now time.Time, after int64) (int64, bool) {
				return matchTOTP(tt.seed, tt.code, now, after, otp.DigitsEight, tt.alg)
			}
			if step, ok := match(now, -1); !ok || step != want {
				t.Errorf("at T: matchTOTP = %d, %v; want %d, true", step, ok, want)
			}
			if step, ok := match(now.Add(TOTPPeriod), -1); !ok || step != want {
				t.Errorf("at T+30s (previous step): matchTOTP = %d, %v; want %d, true", step, ok, want)
			}
			if step, ok := match(now.Add(2*TOTPPeriod), -1); ok {
				t.Errorf("at T+60s (two steps back): matched step %d", step)
			}
			if step, ok := match(now.Add(-TOTPPeriod), -1); ok {
				t.Errorf("at T-30s (next step): matched step %d", step)
			}
			if step, ok := match(now, want); ok {
				t.Errorf("replay with after = %d: matched step %d", want, step)
			}
			// Truncation to 6 digits keeps the last six (value mod 10^6); for the
			// SHA-1 rows that is what the public MatchTOTP accepts.
			if step, ok := matchTOTP(tt.seed, tt.code[2:], now, -1, otp.DigitsSix, tt.alg); !ok || step != want {
				t.Errorf("6-digit code %s: matchTOTP = %d, %v", tt.code[2:], step, ok)
			}
			if tt.alg == otp.AlgorithmSHA1 {
				if step, ok := MatchTOTP(tt.seed, tt.code[2:], now, -1); !ok || step != want {
					t.Errorf("MatchTOTP(%s) = %d, %v", tt.code[2:], step, ok)
				}
			}
			if _, ok := matchTOTP(tt.seed, tt.code, now, -1, otp.DigitsSix, tt.alg); ok {
				t.Error("an 8-digit code matched where 6 digits are expected")
			}
		})
	}
}

func TestMatchTOTPWindow(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_015, 0) // mid-step, a fake clock
	s := TOTPStep(now)
	codes := map[int64]string{}
	seen := map[string]int64{}
	for k := s - 2; k <= s+1; k++ {
		codes[k] = codeAt(t, testSecret, k)
		if other, dup := seen[codes[k]]; dup {
			t.Fatalf("steps %d and %d share a code: pick another test secret", other, k)
		}
		seen[codes[k]] = k
	}
	tests := []struct {
		name     string
		code     string
		after    int64
		wantStep int64
		wantOK   bool
	}{
		{"current step", codes[s], -1, s, true},
		{"previous step", codes[s-1], -1, s - 1, true},
		{"next step refused", codes[s+1], -1, 0, false},
		{"two steps back refused", codes[s-2], -1, 0, false},
		{"replay of current refused", codes[s], s, 0, false},
		{"replay of previous refused", codes[s-1], s - 1, 0, false},
		{"previous after current accepted refused", codes[s-1], s, 0, false},
		{"current after previous accepted", codes[s], s - 1, s, true},
		{"after in the future refuses all", codes[s], s + 5, 0, false},
		{"after zero", codes[s], 0, s, true},
		{"unnormalized code refused", codes[s][:3] + " " + codes[s][3:], -1, 0, false},
		{"short code refused", codes[s][:5], -1, 0, false},
		{"empty code refused", "", -1, 0, false},
		{"wrong code refused", "000000", -1, 0, false},
	}
	if _, used := seen["000000"]; used {
		t.Fatal("test secret gives 000000 in the window")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			step, ok := MatchTOTP(testSecret, tt.code, now, tt.after)
			if ok != tt.wantOK || (ok && step != tt.wantStep) {
				t.Errorf("MatchTOTP(%q, after %d) = %d, %v; want %d, %v", tt.code, tt.after, step, ok, tt.wantStep, tt.wantOK)
			}
		})
	}
}

func TestMatchTOTPStepEdges(t *testing.T) {
	t.Parallel()
	const s = 56_666_667
	start := time.Unix(s*30, 0)
	end := start.Add(TOTPPeriod - time.Nanosecond)
	for _, now := range []time.Time{start, end} {
		if got := TOTPStep(now); got != s {
			t.Fatalf("TOTPStep(%v) = %d, want %d", now, got, s)
		}
		if step, ok := MatchTOTP(testSecret, codeAt(t, testSecret, s), now, -1); !ok || step != s {
			t.Errorf("at %v: current code = %d, %v", now, step, ok)
		}
		if step, ok := MatchTOTP(testSecret, codeAt(t, testSecret, s-1), now, -1); !ok || step != s-1 {
			t.Errorf("at %v: previous code = %d, %v", now, step, ok)
		}
	}
	// One nanosecond past the step, the previous code is two steps back.
	if _, ok := MatchTOTP(testSecret, codeAt(t, testSecret, s-1), end.Add(time.Nanosecond), -1); ok {
		t.Error("code of two steps back accepted at a step boundary")
	}
	// At the epoch there is no previous step, and the current one still works.
	epoch := time.Unix(10, 0)
	if step, ok := MatchTOTP(testSecret, codeAt(t, testSecret, 0), epoch, -1); !ok || step != 0 {
		t.Errorf("step 0 = %d, %v", step, ok)
	}
	// Before the epoch nothing matches, whatever the counter wraps to.
	for _, c := range []string{referenceHOTP(testSecret, 0, 6), referenceHOTP(testSecret, ^uint64(0), 6)} {
		if step, ok := MatchTOTP(testSecret, c, time.Unix(-10, 0), -1); ok {
			t.Errorf("before the epoch: matched step %d", step)
		}
	}
}

func TestMatchTOTPAgreesWithPquernaGenerator(t *testing.T) {
	t.Parallel()
	secret, err := NewTOTPSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	code, err := totp.GenerateCode(b32NoPadding.EncodeToString(secret), now)
	if err != nil {
		t.Fatal(err)
	}
	norm, err := NormalizeTOTP(code[:3] + " " + code[3:])
	if err != nil {
		t.Fatal(err)
	}
	if step, ok := MatchTOTP(secret, norm, now, -1); !ok || step != TOTPStep(now) {
		t.Fatalf("MatchTOTP(pquerna code) = %d, %v", step, ok)
	}
	if want := referenceHOTP(secret, uint64(TOTPStep(now)), TOTPDigits); code != want {
		t.Fatalf("pquerna gave %s, RFC 4226 reference %s", code, want)
	}
}

func TestMatchTOTPRefusesShortSecrets(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	for _, n := range []int{0, 1, 10, minTOTPSecretBytes - 1} {
		secret := testSecret[:n]
		code := referenceHOTP(secret, uint64(TOTPStep(now)), TOTPDigits)
		if step, ok := MatchTOTP(secret, code, now, -1); ok {
			t.Errorf("%d-byte secret matched step %d", n, step)
		}
	}
	secret := testSecret[:minTOTPSecretBytes]
	code := referenceHOTP(secret, uint64(TOTPStep(now)), TOTPDigits)
	if _, ok := MatchTOTP(secret, code, now, -1); !ok {
		t.Errorf("%d-byte secret refused", minTOTPSecretBytes)
	}
}

func TestTOTPStep(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		unix, want int64
	}{
		{0, 0}, {29, 0}, {30, 1}, {59, 1}, {60, 2},
		{-1, -1}, {-30, -1}, {-31, -2},
		{1_700_000_015, 56_666_667},
	} {
		if got := TOTPStep(time.Unix(tt.unix, 999_999_999)); got != tt.want {
			t.Errorf("TOTPStep(%d) = %d, want %d", tt.unix, got, tt.want)
		}
	}
}

func TestNormalizeTOTP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"123456", "123456", true},
		{"012345", "012345", true},
		{" 123 456 ", "123456", true},
		{"123-456", "123456", true},
		{"12-34-56", "123456", true},
		{"123\t456\n", "123456", true},
		{"123\u00a0456", "123456", true}, // no-break space
		{"123\u2009456", "123456", true}, // thin space
		{"123\u202f456", "123456", true}, // narrow no-break space
		{"123\u3000456", "123456", true}, // ideographic space
		{"12345", "", false},
		{"1234567", "", false},
		{"12345678", "", false}, // an 8-digit code is not a TOTP code here
		{"", "", false},
		{"   ", "", false},
		{"12345a", "", false},
		{"+123456", "", false},
		{"123\u2013456", "", false}, // en dash is not '-'
		{"123\u200b456", "", false}, // zero-width space is not a space
		{"１２３４５６", "123456", true},  // fullwidth digits (a Japanese input method)
		{"١٢٣٤٥٦", "123456", true},  // Arabic-Indic digits (an Arabic keyboard)
		{"۱۲۳ ۴۵۶", "123456", true}, // Eastern Arabic-Indic digits
		{"12३456", "", false},       // Devanagari: no page language types them
		{"123456" + strings.Repeat(" ", 40), "", false},
	}
	for _, tt := range tests {
		got, err := NormalizeTOTP(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NormalizeTOTP(%q) = %q, %v", tt.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrCodeFormat) {
			t.Errorf("NormalizeTOTP(%q) error %v is not ErrCodeFormat", tt.in, err)
		}
	}
}

func TestNewTOTPSecret(t *testing.T) {
	t.Parallel()
	a, err := NewTOTPSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewTOTPSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 20 || len(b) != 20 {
		t.Fatalf("secret lengths %d, %d; want 20", len(a), len(b))
	}
	if bytes.Equal(a, b) {
		t.Fatal("two secrets are equal")
	}
	boom := errors.New("entropy exhausted")
	for name, r := range map[string]io.Reader{
		"error": iotest.ErrReader(boom),
		"empty": bytes.NewReader(nil),
		"short": bytes.NewReader(make([]byte, 19)),
	} {
		if s, err := NewTOTPSecret(r); err == nil || s != nil {
			t.Errorf("%s reader: NewTOTPSecret = %x, %v; want nil and an error", name, s, err)
		}
	}
	if _, err := NewTOTPSecret(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Errorf("error %v does not wrap the reader's error", err)
	}
}

func TestTOTPKeyURI(t *testing.T) {
	t.Parallel()
	secret, err := NewTOTPSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ issuer, account string }{
		{"Acme Bank", "alice@example.com"},
		{"Acme", "alice+tag@example.com"},
		{"Acme & Sons", "bob?x=1#frag"},
		{"Acme", "ünïcødé 名前"},
	}
	for _, tt := range tests {
		uri := TOTPKeyURI(secret, tt.issuer, tt.account)
		if !strings.HasPrefix(uri, "otpauth://totp/") {
			t.Errorf("URI %q is not otpauth://totp/", uri)
		}
		if strings.Contains(uri, "+") || strings.Count(uri, "?") != 1 {
			t.Errorf("URI %q: '+' or extra '?' would be misread", uri)
		}
		k, err := otp.NewKeyFromURL(uri)
		if err != nil {
			t.Fatalf("NewKeyFromURL(%q): %v", uri, err)
		}
		if k.Type() != "totp" || k.Issuer() != tt.issuer || k.AccountName() != tt.account {
			t.Errorf("URI %q parsed as type %q issuer %q account %q", uri, k.Type(), k.Issuer(), k.AccountName())
		}
		if k.Period() != 30 || k.Digits() != otp.DigitsSix || k.Algorithm() != otp.AlgorithmSHA1 {
			t.Errorf("URI %q: period %d digits %d algorithm %s", uri, k.Period(), k.Digits(), k.Algorithm())
		}
		for _, param := range []string{"&algorithm=SHA1", "&digits=6", "&period=30"} {
			if !strings.Contains(uri, param) {
				t.Errorf("URI %q lacks %s", uri, param)
			}
		}
		if strings.Contains(k.Secret(), "=") {
			t.Errorf("secret %q is padded", k.Secret())
		}
		got, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(k.Secret())
		if err != nil || !bytes.Equal(got, secret) {
			t.Errorf("secret round trip = %x, %v; want %x", got, err, secret)
		}
		// What an authenticator app would show is accepted.
		now := time.Now()
		code, err := totp.GenerateCode(k.Secret(), now)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := MatchTOTP(secret, code, now, -1); !ok {
			t.Errorf("code from the enrolled URI refused")
		}
	}
}

func ExampleMatchTOTP() {
	secret := []byte("12345678901234567890") // in production: NewTOTPSecret(rand.Reader), stored sealed
	now := time.Unix(1_111_111_111, 0)       // in production: the injected clock
	lastAccepted := int64(-1)                // none yet

	code, err := NormalizeTOTP("050 471")
	if err != nil {
		fmt.Println(err)
		return
	}
	step, ok := MatchTOTP(secret, code, now, lastAccepted)
	fmt.Println(step, ok)

	// Store step as the last accepted one: the same code is then refused.
	_, ok = MatchTOTP(secret, code, now, step)
	fmt.Println(ok)
	// Output:
	// 37037037 true
	// false
}

func FuzzNormalizeTOTP(f *testing.F) {
	for _, s := range []string{
		"123456", "123 456", "12-34-56", "123\u00a0456", "123\u3000456", "１２３４５６",
		"١٢٣٤٥٦", "abc", "", "0000000", "12345", " - - ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := NormalizeTOTP(in)
		if err != nil {
			if got != "" {
				t.Fatalf("NormalizeTOTP(%q) = %q with error %v", in, got, err)
			}
			return
		}
		if len(got) != TOTPDigits {
			t.Fatalf("NormalizeTOTP(%q) = %q", in, got)
		}
		for _, r := range got {
			if r < '0' || r > '9' {
				t.Fatalf("NormalizeTOTP(%q) = %q", in, got)
			}
		}
		// Only spaces and '-' were dropped, and digits read as ASCII: nothing else changed.
		stripped := strings.Map(func(r rune) rune {
			if r == '-' || unicode.IsSpace(r) {
				return -1
			}
			if d := asciiDigit(r); d != 0 {
				return d
			}
			return r
		}, in)
		if stripped != got {
			t.Fatalf("NormalizeTOTP(%q) = %q, want %q", in, got, stripped)
		}
		if again, err := NormalizeTOTP(got); err != nil || again != got {
			t.Fatalf("NormalizeTOTP is not idempotent on %q: %q, %v", got, again, err)
		}
	})
}

func FuzzMatchTOTP(f *testing.F) {
	now := int64(1_700_000_015)
	s := now / 30
	for _, k := range []int64{s, s - 1, s + 1, s - 2} {
		f.Add(testSecret, referenceHOTP(testSecret, uint64(k), 6), now, int64(-1))
		f.Add(testSecret, referenceHOTP(testSecret, uint64(k), 6), now, s-1)
	}
	f.Add(rfcSeedSHA1, "287082", int64(59), int64(-1))
	f.Add(rfcSeedSHA1, "287082", int64(59), int64(1))
	f.Add(rfcSeedSHA1, "287082", int64(-59), int64(-1))
	f.Add([]byte(nil), "000000", int64(0), int64(-1))
	f.Add(testSecret, "12345", int64(-1<<63), int64(1<<63-1))
	f.Fuzz(func(t *testing.T, secret []byte, code string, unix, after int64) {
		at := time.Unix(unix, 0)
		step, ok := MatchTOTP(secret, code, at, after)

		// The oracle: which of the two candidate steps should match.
		cur := TOTPStep(at)
		accepts := func(k int64) bool {
			return len(secret) >= minTOTPSecretBytes && k >= 0 && k > after &&
				code == referenceHOTP(secret, uint64(k), TOTPDigits)
		}
		switch {
		case accepts(cur):
			if !ok || step != cur {
				t.Fatalf("MatchTOTP = %d, %v; want current step %d", step, ok, cur)
			}
		case accepts(cur - 1):
			if !ok || step != cur-1 {
				t.Fatalf("MatchTOTP = %d, %v; want previous step %d", step, ok, cur-1)
			}
		default:
			if ok {
				t.Fatalf("MatchTOTP matched step %d (current %d, after %d) for code %q", step, cur, after, code)
			}
		}
	})
}
