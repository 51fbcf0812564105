package challenge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// wrongCallCodes tries n wrong call codes in parallel, the i-th as the caller
// callerOf(i), and counts the outcomes: "wrong", "limited caller",
// "limited client", or the error.
func (f *fixture) wrongCallCodes(n int, right string, callerOf func(int) string) map[string]int {
	f.t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[string]int{}
	for i := range n {
		wg.Go(func() {
			code := fmt.Sprintf("%010d", i*7919+3)
			if code == right {
				code = fmt.Sprintf("%010d", i*7919+4)
			}
			_, err := f.svc.RedeemCallCode(context.Background(), ivrClient, code, callerOf(i))
			var le *CallLimitError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.As(err, &le):
				counts["limited "+le.Scope]++
			case errors.Is(err, ErrNotFound):
				counts["wrong"]++
			default:
				counts[fmt.Sprint(err)]++
			}
		})
	}
	wg.Wait()
	return counts
}

// phoneOffer starts a verification with a phone handover and returns its call code.
func (f *fixture) phoneOffer() (string, *StartResult) {
	f.t.Helper()
	res := f.start(OTPSMS, phone)
	f.handover(res.Verification.ID, HandoverPhone)
	page, err := f.svc.OpenCodePage(context.Background(), pageToken(f.t, res))
	if err != nil || page.Phone == nil {
		f.t.Fatalf("OpenCodePage = %+v, %v", page, err)
	}
	return page.Phone.CallCode, res
}

// TestCallCodeCallerLockout: 200 parallel wrong codes from one caller use up that
// caller's allowance and no one else's: a second caller with the right code still
// redeems, and so do calls that name no caller.
func TestCallCodeCallerLockout(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	code, _ := f.phoneOffer()
	const abuser = "ivr:5f1c9a0e7b" // what an IVR derives from the caller's number
	counts := f.wrongCallCodes(200, code, func(int) string { return abuser })
	if counts["wrong"] != 10 || counts["limited caller"] != 190 || len(counts) != 2 {
		t.Fatalf("200 wrong codes from one caller: %v, want 10 wrong and 190 limited (caller)", counts)
	}
	// The abuser is locked out, right code or not; nothing was looked up.
	var le *CallLimitError
	if _, err := f.svc.RedeemCallCode(ctx, ivrClient, code, abuser); !errors.As(err, &le) || le.Scope != CallLimitCaller ||
		le.RetryAfter <= 0 {
		t.Fatalf("the abuser with the right code: %v", err)
	}
	// Another caller with the right code redeems it.
	r, err := f.svc.RedeemCallCode(ctx, ivrClient, code, "ivr:0d2b66c4e1")
	if err != nil || r.CaseReference != "CASE-1" {
		t.Fatalf("another caller with the right code: %+v, %v", r, err)
	}
	// Calls without a caller reference have their own allowance, untouched.
	code2, _ := f.phoneOffer()
	if r, err := f.svc.RedeemCallCode(ctx, ivrClient, code2, ""); err != nil || r.CaseReference != "CASE-1" {
		t.Fatalf("a call without a caller reference: %+v, %v", r, err)
	}
	// The next window forgives the abuser.
	f.clock.Advance(le.RetryAfter)
	code3, _ := f.phoneOffer()
	if _, err := f.svc.RedeemCallCode(ctx, ivrClient, code3, abuser); err != nil {
		t.Fatalf("the abuser in the next window: %v", err)
	}
}

// TestCallCodeClientCeiling: many callers guessing together meet the phone
// client's ceiling: never more wrong codes than it allows in a window, and past it
// every call, whoever the caller, is refused without a lookup.
func TestCallCodeClientCeiling(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	code, _ := f.phoneOffer()
	// 300 callers (spoofed numbers, say), each trying twice.
	counts := f.wrongCallCodes(600, code, func(i int) string { return fmt.Sprint("caller-", i%300) })
	if counts["wrong"] != 200 || counts["limited client"] != 400 || len(counts) != 2 {
		t.Fatalf("600 wrong codes from 300 callers: %v, want 200 wrong (the ceiling) and 400 limited", counts)
	}
	// The ceiling holds for a new caller with the right code too, and for calls naming none.
	for _, caller := range []string{"caller-new", ""} {
		var le *CallLimitError
		if _, err := f.svc.RedeemCallCode(ctx, ivrClient, code, caller); !errors.As(err, &le) || le.Scope != CallLimitClient {
			t.Fatalf("caller %q past the ceiling: %v", caller, err)
		}
	}
	if g, err := f.svc.GetHandover(ctx, "platform-a", handoverOf(t, f, code)); err != nil || g.State != HandoverOffered {
		t.Fatalf("the customer's handover after the guesses: %+v, %v", g, err)
	}
	// Nothing in Redis names a caller in clear.
	keys, err := f.rdb.Keys(ctx, "hc:*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("index keys: %v, %v", keys, err)
	}
	for _, k := range keys {
		m, err := f.rdb.HGetAll(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		for field, v := range m {
			if strings.Contains(field, "caller-") || strings.Contains(v, "caller-") {
				t.Fatalf("%s keeps a caller reference in clear: %s=%s", k, field, v)
			}
		}
	}
	if strings.Contains(f.logs.String(), "caller-") {
		t.Fatal("a caller reference reached the log")
	}
}

// handoverOf returns the id of the handover whose call code is code, from its
// index entry.
func handoverOf(t *testing.T, f *fixture, code string) string {
	t.Helper()
	ctx := context.Background()
	cur, prev, _ := f.svc.callKeys(ivrClient, f.clock.Now())
	for _, k := range []string{cur, prev} {
		if v, err := f.rdb.HGet(ctx, k, f.svc.callField(code)).Result(); err == nil {
			id, _, _ := strings.Cut(v, "|") // "<handover id>|<conversation pointer>"
			return id
		}
	}
	t.Fatal("the call code is not in the index")
	return ""
}
