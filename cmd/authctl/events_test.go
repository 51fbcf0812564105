package main

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/events"
	"github.com/authsvc/authsvc/internal/syncbuf"
)

// events tail receives what authsvc sends: it prints each signed event, marks a redelivery,
// refuses a delivery that does not verify and exits after --count distinct events.
func TestEventsTail(t *testing.T) {
	t.Parallel()
	var stdout, stderr syncbuf.Buffer
	done := make(chan int, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		done <- runEnv(ctx, []string{"events", "tail", "--listen", "127.0.0.1:0", "--count", "2"},
			env{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }})
	}()
	addr := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/events`)
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == ""; {
		if m := addr.FindStringSubmatch(stderr.String()); m != nil {
			url = m[0]
		} else if time.Now().After(deadline) {
			t.Fatalf("no address on stderr: %s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	secret, err := events.ParseSecret(events.DevSecret)
	if err != nil {
		t.Fatal(err)
	}
	post := func(kind string, entry string, sign events.Secret) int {
		msg, _, err := events.Render("http://localhost:8080", "audit:events", audit.Event{ID: entry, Time: time.Now(),
			Kind: kind, ClientID: "dev", VerificationID: "k2q-7RDX5WQKZ3M2PA4N", Method: "otp_email", Reason: "attempts_exhausted"})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(msg.Body))
		req.Header.Set("Content-Type", events.ContentType)
		sign.SetHeaders(req.Header, msg.ID, time.Now(), msg.Body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if s := post(audit.Failed, "1-0", secret); s != http.StatusNoContent {
		t.Fatalf("status %d", s)
	}
	if s := post(audit.Failed, "1-0", secret); s != http.StatusNoContent {
		t.Fatalf("redelivery: status %d", s)
	}
	if s := post(audit.Verified, "2-0", events.Secret(bytes.Repeat([]byte{1}, 32))); s != http.StatusUnauthorized {
		t.Fatalf("wrong secret: status %d", s)
	}
	if s := post(audit.Expired, "3-0", secret); s != http.StatusNoContent {
		t.Fatalf("status %d", s)
	}
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tail did not stop after --count events")
	}
	out := stdout.String()
	for _, want := range []string{
		"com.authsvc.verification.failed k2q-7RDX5WQKZ3M2PA4N FAILED otp_email attempts_exhausted  id=audit:events/1-0\n",
		"id=audit:events/1-0 (again: already received)",
		"com.authsvc.verification.expired k2q-7RDX5WQKZ3M2PA4N EXPIRED",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "verified") || !strings.Contains(stderr.String(), "refused a delivery") {
		t.Errorf("the badly signed delivery was not refused:\n%s\n%s", out, stderr.String())
	}
}

// Off a loopback address the public dev secret is not accepted.
func TestEventsTailNeedsASecretOffLoopback(t *testing.T) {
	t.Parallel()
	var stdout, stderr syncbuf.Buffer
	code := runEnv(context.Background(), []string{"events", "tail", "--listen", "0.0.0.0:0"},
		env{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }})
	if code != exitUsage || !strings.Contains(stderr.String(), "--secret-file is required") {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}
