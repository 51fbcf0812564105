package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Webhook defaults and bounds.
const (
	// DefaultWebhookTimeout bounds one attempt when WebhookConfig.Timeout is zero.
	DefaultWebhookTimeout = 10 * time.Second
	// DefaultWebhookAttempts is the attempt count when MaxAttempts is zero.
	DefaultWebhookAttempts = 3
	// DefaultWebhookBackoff is the first retry delay when Backoff is zero.
	DefaultWebhookBackoff = 500 * time.Millisecond
	// MaxRetryAfter is the longest Retry-After the sender waits for; a longer
	// one ends the send with a temporary error for the caller to retry later.
	MaxRetryAfter = 30 * time.Second

	maxWebhookAttempts = 10
	maxBackoff         = 30 * time.Second
	maxDrain           = 64 << 10
)

// WebhookConfig configures a Webhook sender.
type WebhookConfig struct {
	// URL receives the POSTs: https, or http on a loopback host (development
	// and tests only). It must not carry user info or a fragment.
	URL string
	// Secret keys the HMAC-SHA256 signature; at least MinSecretLen bytes.
	Secret []byte
	// Timeout bounds each attempt; 0 means DefaultWebhookTimeout.
	Timeout time.Duration
	// MaxAttempts bounds the attempts (1 to 10); 0 means DefaultWebhookAttempts.
	MaxAttempts int
	// Backoff is the delay before the first retry; it doubles each retry,
	// with jitter, up to 30 s. 0 means DefaultWebhookBackoff.
	Backoff time.Duration
	// Client sends the requests; nil uses a client with NewTransport. Redirects are
	// never followed, whichever client is given.
	Client *http.Client
	// Now is the clock for timestamps and expires_at; nil means time.Now.
	Now func() time.Time
}

// Webhook sends messages as signed JSON POSTs to an SMS gateway or a care
// platform's relay; see the package README for the wire format. It serves
// both channels and is safe for concurrent use.
type Webhook struct {
	url         string
	secret      []byte
	timeout     time.Duration
	maxAttempts int
	backoff     time.Duration
	client      *http.Client
	now         func() time.Time
}

// NewWebhook validates cfg and returns a sender. Errors wrap ErrConfig and
// never carry the URL or the secret.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return nil, configError("webhook url")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return nil, configError("webhook url: http is allowed only for a loopback host")
		}
	default:
		return nil, configError("webhook url: scheme must be https")
	}
	if len(cfg.Secret) < MinSecretLen {
		return nil, configError("webhook secret: at least 32 bytes")
	}
	if cfg.Timeout < 0 || cfg.Backoff < 0 {
		return nil, configError("webhook timeout/backoff")
	}
	if cfg.MaxAttempts < 0 || cfg.MaxAttempts > maxWebhookAttempts {
		return nil, configError("webhook max attempts")
	}
	w := &Webhook{
		url:         u.String(),
		secret:      bytes.Clone(cfg.Secret),
		timeout:     cmp0(cfg.Timeout, DefaultWebhookTimeout),
		maxAttempts: cmp0(cfg.MaxAttempts, DefaultWebhookAttempts),
		backoff:     cmp0(cfg.Backoff, DefaultWebhookBackoff),
		now:         cfg.Now,
	}
	if w.now == nil {
		w.now = time.Now
	}
	client := &http.Client{Transport: NewTransport()}
	if cfg.Client != nil {
		c := *cfg.Client
		client = &c
	}
	// A 307/308 would resend the signed body, code included, elsewhere.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	w.client = client
	return w, nil
}

// webhookIdleConns is how many idle connections a webhook sender keeps to its
// gateway. http.DefaultTransport keeps 2 per host, so with more sends in flight
// than that (every concurrent StartVerification sends one) most sends opened a
// new connection, TLS handshake included, and closed it after.
const webhookIdleConns = 64

// NewTransport returns the HTTP transport webhook senders use by default:
// http.DefaultTransport's settings, keeping up to 64 idle connections to the
// gateway so that concurrent sends reuse them.
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = max(t.MaxIdleConns, webhookIdleConns)
	t.MaxIdleConnsPerHost = webhookIdleConns
	return t
}

func cmp0[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// webhookPayload is the JSON body; see README.md.
type webhookPayload struct {
	MessageID string `json:"message_id"`
	Channel   string `json:"channel"`
	To        string `json:"to"`
	Locale    string `json:"locale"`
	Kind      string `json:"kind"`
	Subject   string `json:"subject"`
	Text      string `json:"text"`
	ExpiresAt string `json:"expires_at"`
}

// Send renders m and POSTs it, retrying network errors, timeouts, 429 and
// 5xx answers (honouring a Retry-After up to MaxRetryAfter) until an attempt
// succeeds, MaxAttempts are spent or ctx ends; other answers are final. Every
// attempt carries the same Idempotency-Key (m.ID) and a fresh signature.
// An invalid m gives a *MessageError; a failed send gives a *SendError.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	if w == nil {
		return &ChannelError{Channel: m.Channel, Err: ErrNoSender}
	}
	r, err := Render(m)
	if err != nil {
		return err
	}
	body, err := json.Marshal(webhookPayload{
		MessageID: m.ID,
		Channel:   m.Channel.String(),
		To:        m.To,
		Locale:    MatchLocale(m.Locale),
		Kind:      m.Kind.String(),
		Subject:   r.Subject,
		Text:      r.Text,
		ExpiresAt: w.now().Add(m.ExpiresIn).UTC().Format(time.RFC3339),
	})
	if err != nil {
		return &SendError{Channel: m.Channel, Reason: ReasonProtocol}
	}
	for attempt := 1; ; attempt++ {
		retryAfter, se := w.attempt(ctx, m, body)
		if se == nil {
			return nil
		}
		se.Attempts = attempt
		if !se.Temporary || attempt >= w.maxAttempts || se.Reason == ReasonCanceled {
			return se
		}
		wait := w.delay(attempt)
		if retryAfter > 0 {
			if retryAfter > MaxRetryAfter {
				return se
			}
			wait = retryAfter
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return se
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return contextSendError(m.Channel, attempt, ctx.Err())
		case <-t.C:
		}
	}
}

// delay returns the backoff before retry number attempt (1-based): the base
// doubled per retry, capped, with "equal jitter" (half fixed, half random).
func (w *Webhook) delay(attempt int) time.Duration {
	d := w.backoff
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	half := d / 2
	return half + rand.N(half+1)
}

// attempt makes one POST. It returns nil on a 2xx answer, else the error and
// any Retry-After delay the receiver asked for.
func (w *Webhook) attempt(ctx context.Context, m Message, body []byte) (time.Duration, *SendError) {
	actx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return 0, &SendError{Channel: m.Channel, Reason: ReasonProtocol}
	}
	ts := strconv.FormatInt(w.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderIdempotencyKey, m.ID)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, sign(w.secret, ts, body))
	resp, err := w.client.Do(req)
	if err != nil {
		// err is a *url.Error naming the URL: keep only its class.
		if ctx.Err() != nil {
			return 0, contextSendError(m.Channel, 0, ctx.Err())
		}
		var netErr net.Error
		if actx.Err() != nil || errors.As(err, &netErr) && netErr.Timeout() {
			return 0, &SendError{Channel: m.Channel, Reason: ReasonTimeout, Temporary: true}
		}
		return 0, &SendError{Channel: m.Channel, Reason: ReasonNetwork, Temporary: true}
	}
	defer resp.Body.Close()
	// Drain a little so the connection can be reused; the body is never kept.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return 0, nil
	case code == http.StatusTooManyRequests || code >= 500:
		return retryAfter(resp.Header.Get("Retry-After"), w.now()),
			&SendError{Channel: m.Channel, Reason: ReasonServer, Code: code, Temporary: true}
	case code >= 400:
		return 0, &SendError{Channel: m.Channel, Reason: ReasonRejected, Code: code}
	default:
		return 0, &SendError{Channel: m.Channel, Reason: ReasonProtocol, Code: code}
	}
}

// retryAfter parses a Retry-After value (seconds or an HTTP date) into a
// delay; 0 when absent, malformed or in the past.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if isDigits(v, 1, 9) {
		n, _ := strconv.Atoi(v)
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	return max(t.Sub(now), 0)
}
