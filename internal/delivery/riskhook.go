package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// DefaultRiskTimeout is the risk hook's time budget when RiskHookConfig.Timeout
// is zero: it runs before every SMS send, on the caller's clock.
const DefaultRiskTimeout = 300 * time.Millisecond

// maxRiskBody bounds the hook's answer that is read.
const maxRiskBody = 16 << 10

// Risk hook failures, for the caller's fail mode and its metrics. None carries
// the number.
var (
	// ErrRiskTimeout: the hook did not answer within its budget.
	ErrRiskTimeout = errors.New("delivery: risk hook timed out")
	// ErrRiskUnreachable: the hook could not be reached, or answered non-2xx.
	ErrRiskUnreachable = errors.New("delivery: risk hook unreachable")
	// ErrRiskGarbage: the hook's answer is not the JSON it must be.
	ErrRiskGarbage = errors.New("delivery: risk hook answered garbage")
)

// RiskHookConfig configures a RiskHook.
type RiskHookConfig struct {
	// URL receives the lookups: https, or http on a loopback host (tests only).
	URL string
	// Secret keys the HMAC-SHA256 signature, as for the SMS webhook (at least
	// MinSecretLen bytes).
	Secret []byte
	// Timeout is the hard budget of one lookup (DefaultRiskTimeout); no retries.
	Timeout time.Duration
	// Client sends the requests; nil uses a default client. Redirects are never
	// followed.
	Client *http.Client
	// Now is the clock of the signature's timestamp; nil means time.Now.
	Now func() time.Time
}

// NumberRisk is what a number-intelligence lookup says about a number. A zero
// field is "not known".
type NumberRisk struct {
	// LineType is the hook's line type: mobile, landline, fixed_voip,
	// non_fixed_voip, personal, toll_free, premium, shared_cost, uan, voicemail,
	// pager or unknown.
	LineType string
	// Carrier names the number's network.
	Carrier string
	// SIMSwap is when the number last moved to another SIM.
	SIMSwap time.Time
	// CallForwarding reports unconditional call forwarding active on the line.
	CallForwarding bool
}

// RiskHook asks a number-intelligence service about a number before an SMS send:
// a signed JSON POST (the SMS webhook's signature scheme, see README.md) with a
// hard time budget. It is safe for concurrent use.
type RiskHook struct {
	url     string
	secret  []byte
	timeout time.Duration
	client  *http.Client
	now     func() time.Time
}

// NewRiskHook validates cfg. Errors wrap ErrConfig and never carry the URL or
// the secret.
func NewRiskHook(cfg RiskHookConfig) (*RiskHook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return nil, configError("risk hook url")
	}
	if u.Scheme != "https" && (u.Scheme != "http" || !isLoopbackHost(u.Hostname())) {
		return nil, configError("risk hook url: scheme must be https (http only for a loopback host)")
	}
	if len(cfg.Secret) < MinSecretLen {
		return nil, configError("risk hook secret: at least 32 bytes")
	}
	if cfg.Timeout < 0 {
		return nil, configError("risk hook timeout")
	}
	h := &RiskHook{url: u.String(), secret: bytes.Clone(cfg.Secret), timeout: cmp0(cfg.Timeout, DefaultRiskTimeout), now: cfg.Now}
	if h.now == nil {
		h.now = time.Now
	}
	client := &http.Client{}
	if cfg.Client != nil {
		c := *cfg.Client
		client = &c
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	h.client = client
	return h, nil
}

// riskRequest is the hook's request body; see README.md.
type riskRequest struct {
	RequestID   string   `json:"request_id"`
	PhoneNumber string   `json:"phone_number"`
	Checks      []string `json:"checks"`
}

// riskResponse is the hook's answer; see README.md. Fields it leaves out are
// unknown.
type riskResponse struct {
	LineType *string `json:"line_type"`
	Carrier  *struct {
		Name string `json:"name"`
	} `json:"carrier"`
	SIMSwap *struct {
		LastSIMSwap *time.Time `json:"last_sim_swap"`
	} `json:"sim_swap"`
	CallForwarding *struct {
		Active bool `json:"active"`
	} `json:"call_forwarding"`
}

// Lookup asks about number (E.164) for the send requestID (an id the hook may
// log; never the code). It answers within the budget or fails with
// ErrRiskTimeout, ErrRiskUnreachable or ErrRiskGarbage; no error names the
// number.
func (h *RiskHook) Lookup(ctx context.Context, number, requestID string) (NumberRisk, error) {
	body, err := json.Marshal(riskRequest{RequestID: requestID, PhoneNumber: number,
		Checks: []string{"line_type", "sim_swap", "call_forwarding"}})
	if err != nil {
		return NumberRisk{}, ErrRiskGarbage
	}
	actx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return NumberRisk{}, ErrRiskUnreachable
	}
	ts := strconv.FormatInt(h.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderIdempotencyKey, requestID)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, sign(h.secret, ts, body))
	resp, err := h.client.Do(req)
	if err != nil {
		// err names the URL: keep only its class.
		if actx.Err() != nil {
			return NumberRisk{}, ErrRiskTimeout
		}
		return NumberRisk{}, ErrRiskUnreachable
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		return NumberRisk{}, fmt.Errorf("%w: status %d", ErrRiskUnreachable, resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxRiskBody+1))
	switch {
	case actx.Err() != nil:
		return NumberRisk{}, ErrRiskTimeout
	case err != nil:
		return NumberRisk{}, ErrRiskUnreachable
	case len(raw) > maxRiskBody:
		return NumberRisk{}, ErrRiskGarbage
	}
	return parseRisk(raw)
}

// parseRisk reads the hook's answer: a JSON object; a field of the wrong type, or
// anything but an object, is garbage.
func parseRisk(raw []byte) (NumberRisk, error) {
	var r riskResponse
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&r); err != nil || dec.More() || !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		return NumberRisk{}, ErrRiskGarbage
	}
	var out NumberRisk
	if r.LineType != nil {
		out.LineType = *r.LineType
	}
	if r.Carrier != nil {
		out.Carrier = r.Carrier.Name
	}
	if r.SIMSwap != nil && r.SIMSwap.LastSIMSwap != nil {
		out.SIMSwap = *r.SIMSwap.LastSIMSwap
	}
	if r.CallForwarding != nil {
		out.CallForwarding = r.CallForwarding.Active
	}
	return out, nil
}
