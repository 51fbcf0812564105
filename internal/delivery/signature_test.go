package delivery

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	body := []byte(`{"message_id":"m1"}`)
	ts := strconv.FormatInt(fixedNow.Unix(), 10)
	good := sign(testSecret, ts, body)
	other := sign([]byte("another-secret-another-secret-32b"), ts, body)
	tests := []struct {
		name      string
		secret    []byte
		ts, sig   string
		body      []byte
		now       time.Time
		tolerance time.Duration
		want      error
	}{
		{"valid", testSecret, ts, good, body, fixedNow, 0, nil},
		{"valid among several", testSecret, ts, other + ", " + good, body, fixedNow, 0, nil},
		{"valid within tolerance", testSecret, ts, good, body, fixedNow.Add(299 * time.Second), 0, nil},
		{"wrong secret", testSecret, ts, other, body, fixedNow, 0, ErrSignature},
		{"tampered body", testSecret, ts, good, []byte(`{"message_id":"m2"}`), fixedNow, 0, ErrSignature},
		{"tampered timestamp", testSecret, strconv.FormatInt(fixedNow.Unix()+1, 10), good, body, fixedNow, 0, ErrSignature},
		{"stale", testSecret, ts, good, body, fixedNow.Add(6 * time.Minute), 0, ErrStaleTimestamp},
		{"from the future", testSecret, ts, good, body, fixedNow.Add(-2 * time.Minute), time.Minute, ErrStaleTimestamp},
		{"empty signature", testSecret, ts, "", body, fixedNow, 0, ErrSignature},
		{"other version", testSecret, ts, "v2=" + strings.TrimPrefix(good, "v1="), body, fixedNow, 0, ErrSignature},
		{"not hex", testSecret, ts, "v1=" + strings.Repeat("zz", 32), body, fixedNow, 0, ErrSignature},
		{"truncated", testSecret, ts, good[:len(good)-2], body, fixedNow, 0, ErrSignature},
		{"uppercase hex", testSecret, ts, "v1=" + strings.ToUpper(strings.TrimPrefix(good, "v1=")), body, fixedNow, 0, nil},
		{"signed timestamp", testSecret, "+" + ts, good, body, fixedNow, 0, ErrSignature},
		{"empty timestamp", testSecret, "", good, body, fixedNow, 0, ErrSignature},
		{"short secret", testSecret[:16], ts, sign(testSecret[:16], ts, body), body, fixedNow, 0, ErrSignature},
		{"too many signatures", testSecret, ts, strings.Repeat(other+",", 8) + good, body, fixedNow, 0, ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := VerifySignature(tt.secret, tt.ts, tt.sig, tt.body, tt.now, tt.tolerance)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("VerifySignature = %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzVerifySignature(f *testing.F) {
	body := []byte(`{"message_id":"m1","channel":"sms"}`)
	ts := strconv.FormatInt(fixedNow.Unix(), 10)
	f.Add(ts, sign(testSecret, ts, body), body)
	f.Add(ts, "v1=00,"+sign(testSecret, ts, body), body)
	f.Add("", "", []byte{})
	f.Add("99999999999999999999", "v1=", body)
	f.Add(ts, "v1="+strings.Repeat("0", 64), body)
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte) {
		err := VerifySignature(testSecret, ts, sig, body, fixedNow, time.Hour)
		if err == nil && !strings.Contains(strings.ToLower(sig), sign(testSecret, ts, body)[3:]) {
			t.Fatalf("accepted a signature that does not contain the right MAC: ts=%q sig=%q", ts, sig)
		}
		if err != nil && !errors.Is(err, ErrSignature) && !errors.Is(err, ErrStaleTimestamp) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}
