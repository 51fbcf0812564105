package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/challenge"
)

// TestExtend: "I need more time" (WCAG 2.2.1) is a plain form by the expiry, on the
// code page and the magic link's page. It works without script: the POST extends the
// verification once (a repeat of the same form extends nothing more) and redirects to
// the page, which shows the new expiry and says so in her language. It takes the nonce
// of its own form; without it nothing is extended.
func TestExtend(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	for _, m := range []challenge.Method{challenge.OTPEmail, challenge.MagicLink} {
		t.Run(m.String(), func(t *testing.T) {
			v := e.start(m, "en")
			before := e.get(v.id).Expires
			page := e.GET(v.url, nil)
			wantBody(t, page, "I need more time")
			fs := forms(t, page.body)
			if _, ok := fs["extend"]; !ok {
				t.Fatalf("no extend form:\n%s", page.body)
			}
			// Another form's nonce, or another site, extends nothing.
			bad := e.submit(page, "extend", url.Values{"nonce": {fs["report"].Get("nonce")}}, nil)
			wantStatus(t, bad, http.StatusBadRequest)
			wantStatus(t, e.submit(page, "extend", nil, map[string]string{"Sec-Fetch-Site": "cross-site"}), http.StatusForbidden)
			if got := e.get(v.id).Expires; !got.Equal(before) {
				t.Fatalf("refused posts moved the expiry to %v", got)
			}

			// The confirmation's query on a page never extended says nothing: a link
			// someone made up must not tell her she has more time.
			if made := e.GET(v.url+"?more=1&lang=en", nil); strings.Contains(made.body, "Done: you have more time.") {
				t.Fatalf("?more=1 alone shows the confirmation")
			}

			res := e.submit(page, "extend", nil, nil)
			wantStatus(t, res, http.StatusSeeOther)
			loc := res.header.Get("Location")
			if !strings.HasPrefix(loc, v.url+"?") || !strings.Contains(loc, "more=1") || !strings.Contains(loc, "lang=en") {
				t.Fatalf("Location %q", loc)
			}
			after := e.get(v.id).Expires
			if !after.Equal(before.Add(10 * time.Minute)) {
				t.Fatalf("expires %v, want %v", after, before.Add(10*time.Minute))
			}
			// The same form again (a double tap, a resent POST): no second extension.
			wantStatus(t, e.submit(page, "extend", nil, nil), http.StatusSeeOther)
			if got := e.get(v.id).Expires; !got.Equal(after) {
				t.Fatalf("a repeat moved the expiry to %v", got)
			}
			shown := e.GET(loc, nil)
			wantStatus(t, shown, http.StatusOK)
			wantBody(t, shown, "Done: you have more time.", after.UTC().Format("15:04")+" UTC")
			if !strings.Contains(shown.body, `role="alert"`) {
				t.Errorf("the confirmation is not announced:\n%s", shown.body)
			}
			e.wantState(v.id, challenge.Pending, challenge.ReasonNone, 5)
		})
	}
}

// A refused extension is said plainly on the page, in her language, never as an error
// page: extended as often as allowed (the page then stops offering it), or ended.
func TestExtendRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	v := e.start(challenge.OTPEmail, "es")
	stale := e.GET(v.url, nil)
	for range 3 {
		wantStatus(t, e.submit(e.GET(v.url, nil), "extend", nil, nil), http.StatusSeeOther)
	}
	if _, ok := forms(t, e.GET(v.url, nil).body)["extend"]; ok {
		t.Error("the page still offers more time after the last extension")
	}
	res := e.submit(stale, "extend", nil, nil)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "No se puede dar más tiempo a esta página.")
	if _, ok := forms(t, res.body)["code"]; !ok {
		t.Fatal("the refusal does not show the page again")
	}

	ended := e.start(challenge.OTPEmail, "en")
	page := e.GET(ended.url, nil)
	if _, err := e.svc.Cancel(context.Background(), clientID, ended.id, "cancel-1"); err != nil {
		t.Fatal(err)
	}
	res = e.submit(page, "extend", nil, nil)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, "This page has ended", "so it can't be given more time")
	e.wantState(ended.id, challenge.Canceled, challenge.ReasonNone, 5)
}
