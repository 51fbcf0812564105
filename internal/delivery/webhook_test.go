package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-webhook")

// fixedNow is the clock of the sender and the receiver in these tests.
var fixedNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

type hookRequest struct {
	header  http.Header
	payload webhookPayload
	sigErr  error
}

// receiver is a real HTTP endpoint that checks signatures with
// VerifySignature and answers with the scripted responses in turn (the last
// one repeats).
type receiver struct {
	srv     *httptest.Server
	respond []func(w http.ResponseWriter, r *http.Request)

	mu   sync.Mutex
	reqs []hookRequest
}

func status(code int, header ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		// Receivers echo input in errors; it must never reach our error text.
		_, _ = io.WriteString(w, `{"error":"bad number `+testPhone+`"}`)
	}
}

func newReceiver(t *testing.T, respond ...func(http.ResponseWriter, *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{respond: respond}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		hr := hookRequest{header: r.Header.Clone()}
		hr.sigErr = VerifySignature(testSecret, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, fixedNow, time.Minute)
		if err := json.Unmarshal(body, &hr.payload); err != nil {
			hr.sigErr = errors.Join(hr.sigErr, err)
		}
		rc.mu.Lock()
		n := len(rc.reqs)
		rc.reqs = append(rc.reqs, hr)
		rc.mu.Unlock()
		if hr.sigErr != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		rc.respond[min(n, len(rc.respond)-1)](w, r)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []hookRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hookRequest(nil), rc.reqs...)
}

func newTestWebhook(t *testing.T, url string, edit func(*WebhookConfig)) *Webhook {
	t.Helper()
	cfg := WebhookConfig{
		URL:     url,
		Secret:  testSecret,
		Timeout: 5 * time.Second,
		Backoff: time.Millisecond,
		Now:     func() time.Time { return fixedNow },
	}
	if edit != nil {
		edit(&cfg)
	}
	w, err := NewWebhook(cfg)
	if err != nil {
		t.Fatalf("NewWebhook: %v", err)
	}
	return w
}

func TestWebhookSendsSignedPayload(t *testing.T) {
	t.Parallel()
	for _, ch := range []Channel{SMS, Email} {
		t.Run(ch.String(), func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t, status(http.StatusAccepted))
			m := testMessage(ch, KindCode, "es-MX")
			if err := newTestWebhook(t, rc.srv.URL, nil).Send(t.Context(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			reqs := rc.requests()
			if len(reqs) != 1 {
				t.Fatalf("receiver got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.sigErr != nil {
				t.Fatalf("signature: %v", r.sigErr)
			}
			if r.header.Get("Content-Type") != "application/json" || r.header.Get(HeaderIdempotencyKey) != m.ID {
				t.Errorf("headers %v", r.header)
			}
			rendered, _ := Render(m)
			want := webhookPayload{
				MessageID: m.ID,
				Channel:   ch.String(),
				To:        m.To,
				Locale:    "es",
				Kind:      "code",
				Subject:   rendered.Subject,
				Text:      rendered.Text,
				ExpiresAt: "2026-11-28T12:10:00Z",
			}
			if r.payload != want {
				t.Errorf("payload\n got %+v\nwant %+v", r.payload, want)
			}
		})
	}
}

func TestWebhookRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		respond   []func(http.ResponseWriter, *http.Request)
		attempts  int // requests the receiver must see
		wantErr   bool
		reason    Reason
		code      int
		temporary bool
	}{
		{name: "503 then success", respond: []func(http.ResponseWriter, *http.Request){status(503), status(200)}, attempts: 2},
		{name: "429 with Retry-After then success", respond: []func(http.ResponseWriter, *http.Request){status(429, "Retry-After", "1"), status(204)}, attempts: 2},
		{name: "400 is final", respond: []func(http.ResponseWriter, *http.Request){status(400), status(200)}, attempts: 1, wantErr: true, reason: ReasonRejected, code: 400},
		{name: "404 is final", respond: []func(http.ResponseWriter, *http.Request){status(404)}, attempts: 1, wantErr: true, reason: ReasonRejected, code: 404},
		{name: "5xx until attempts run out", respond: []func(http.ResponseWriter, *http.Request){status(502)}, attempts: 3, wantErr: true, reason: ReasonServer, code: 502, temporary: true},
		{name: "Retry-After too long", respond: []func(http.ResponseWriter, *http.Request){status(503, "Retry-After", "3600"), status(200)}, attempts: 1, wantErr: true, reason: ReasonServer, code: 503, temporary: true},
		{name: "redirect not followed", respond: []func(http.ResponseWriter, *http.Request){status(307, "Location", "https://elsewhere.example/hook")}, attempts: 1, wantErr: true, reason: ReasonProtocol, code: 307},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t, tt.respond...)
			m := testMessage(SMS, KindCode, "en")
			err := newTestWebhook(t, rc.srv.URL, nil).Send(t.Context(), m)
			reqs := rc.requests()
			if len(reqs) != tt.attempts {
				t.Fatalf("receiver got %d requests, want %d", len(reqs), tt.attempts)
			}
			for i, r := range reqs {
				if r.sigErr != nil || r.header.Get(HeaderIdempotencyKey) != m.ID {
					t.Errorf("request %d: signature %v, Idempotency-Key %q", i, r.sigErr, r.header.Get(HeaderIdempotencyKey))
				}
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				return
			}
			var se *SendError
			if !errors.Is(err, ErrSend) || !errors.As(err, &se) {
				t.Fatalf("Send error = %v, want a SendError", err)
			}
			if se.Reason != tt.reason || se.Code != tt.code || se.Temporary != tt.temporary || se.Attempts != tt.attempts {
				t.Errorf("got %+v, want reason %v code %d temporary %v attempts %d", *se, tt.reason, tt.code, tt.temporary, tt.attempts)
			}
			assertNoSecrets(t, err, rc.srv.URL, "127.0.0.1", "error")
		})
	}
}

func TestWebhookAttemptTimeout(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	})
	w := newTestWebhook(t, rc.srv.URL, func(c *WebhookConfig) {
		c.Timeout = 50 * time.Millisecond
		c.MaxAttempts = 2
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	err := w.Send(ctx, testMessage(SMS, KindCode, "en"))
	var se *SendError
	if !errors.As(err, &se) || se.Reason != ReasonTimeout || !se.Temporary || se.Attempts != 2 {
		t.Fatalf("Send error = %#v, want a temporary timeout after 2 attempts", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the per-attempt timeout was not honoured; the test deadline ran out first")
	}
	if n := len(rc.requests()); n != 2 {
		t.Errorf("receiver got %d requests, want 2", n)
	}
}

func TestWebhookStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
		cancel()
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	w := newTestWebhook(t, rc.srv.URL, func(c *WebhookConfig) { c.Backoff = time.Hour })
	err := w.Send(ctx, testMessage(SMS, KindCode, "en"))
	if !errors.Is(err, ErrSend) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Send error = %v, want ErrSend and context.Canceled", err)
	}
	if n := len(rc.requests()); n != 1 {
		t.Errorf("receiver got %d requests, want 1", n)
	}
}

func TestWebhookNetworkError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/hook?token=abc123secret"
	srv.Close()
	err := newTestWebhook(t, url, nil).Send(t.Context(), testMessage(SMS, KindLink, "en"))
	var se *SendError
	if !errors.As(err, &se) || se.Reason != ReasonNetwork || !se.Temporary || se.Attempts != 3 {
		t.Fatalf("Send error = %#v, want a temporary network error after 3 attempts", err)
	}
	assertNoSecrets(t, err, "abc123secret", "127.0.0.1", "hook")
}

func TestNewWebhookValidatesConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*WebhookConfig)
		ok   bool
	}{
		{"https", func(*WebhookConfig) {}, true},
		{"http loopback ip", func(c *WebhookConfig) { c.URL = "http://127.0.0.1:8080/hook" }, true},
		{"http localhost", func(c *WebhookConfig) { c.URL = "http://localhost/hook" }, true},
		{"http ipv6 loopback", func(c *WebhookConfig) { c.URL = "http://[::1]:9/hook" }, true},
		{"http remote", func(c *WebhookConfig) { c.URL = "http://sms.gateway.example/hook" }, false},
		{"http private ip", func(c *WebhookConfig) { c.URL = "http://10.0.0.7/hook" }, false},
		{"http localhost lookalike", func(c *WebhookConfig) { c.URL = "http://localhost.evil.example/hook" }, false},
		{"other scheme", func(c *WebhookConfig) { c.URL = "ftp://sms.gateway.example/hook" }, false},
		{"no host", func(c *WebhookConfig) { c.URL = "https:///hook" }, false},
		{"user info", func(c *WebhookConfig) { c.URL = "https://user:pw@sms.gateway.example/hook" }, false},
		{"short secret", func(c *WebhookConfig) { c.Secret = testSecret[:31] }, false},
		{"too many attempts", func(c *WebhookConfig) { c.MaxAttempts = 11 }, false},
		{"negative timeout", func(c *WebhookConfig) { c.Timeout = -time.Second }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := WebhookConfig{URL: "https://sms.gateway.example/hook", Secret: testSecret}
			tt.edit(&cfg)
			_, err := NewWebhook(cfg)
			if tt.ok {
				if err != nil {
					t.Fatalf("NewWebhook: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("NewWebhook error = %v, want ErrConfig", err)
			}
			if strings.Contains(err.Error(), "gateway") || strings.Contains(err.Error(), string(testSecret[:8])) {
				t.Errorf("error text %q leaks the config", err)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{"-1", 0},
		{"soon", 0},
		{fixedNow.Add(20 * time.Second).Format(http.TimeFormat), 20 * time.Second},
		{fixedNow.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := retryAfter(tt.in, fixedNow); got != tt.want {
				t.Errorf("retryAfter(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
