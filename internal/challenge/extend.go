package challenge

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// More time (WCAG 2.2.1, "timing adjustable"). A customer who needs longer than the
// verification's lifetime to finish (she reads slowly, uses a screen reader, fetches
// her phone) asks for more time on her page, before it expires. The page cannot send
// her a new code (authsvc keeps only a keyed hash of the destination), so it extends
// the verification instead: extend.lua moves a pending, unexpired verification's
// expiry forward by its own lifetime, at most Config.MaxExtensions times and never
// past its creation plus Config.MaxTTL, and writes one 'extended' audit event (an
// event to the platform, com.authsvc.verification.extended). The limits on guesses
// are untouched: the attempts of the verification and the identity's failure locks
// count across the extensions as before. The conversation's pointer, on its own slot,
// is then moved as far (conversation_extend.lua), so that the verification's grant
// stands as long as it would have had it been started with the longer lifetime.

var (
	//go:embed scripts/extend.lua
	extendSrc string
	//go:embed scripts/conversation_extend.lua
	conversationExtendSrc string

	extendScript             = transition(extendSrc)
	conversationExtendScript = redis.NewScript(conversationExtendSrc)
)

var (
	// ErrExtendLimit: the verification was extended Config.MaxExtensions times already.
	ErrExtendLimit = errors.New("challenge: verification extended as often as allowed")
	// ErrExtendMaxTTL: the verification's expiry is at its creation plus
	// Config.MaxTTL, the longest any verification lives.
	ErrExtendMaxTTL = errors.New("challenge: verification at its longest lifetime")
)

// ExtendCodePage gives the verification of the code page of token more time. requestID
// is the page's per-render nonce: a repeated request extends once and answers the
// expiry it set. It returns the new expiry, or ErrExtendLimit, ErrExtendMaxTTL,
// ErrExpired (its time ran out first), ErrNotPending (it ended), ErrNotFound (no such
// page), or an error wrapping ErrUnavailable.
func (s *Service) ExtendCodePage(ctx context.Context, token, requestID string) (time.Time, error) {
	id, _, err := s.pageKey(token)
	if err != nil {
		return time.Time{}, err
	}
	rec, err := s.store.load(ctx, id)
	if err != nil {
		return time.Time{}, err
	}
	return s.extend(ctx, id, rec, "", requestID)
}

// ExtendLinkPage is ExtendCodePage for the magic-link page of token: the script
// checks the token against the link the record holds now.
func (s *Service) ExtendLinkPage(ctx context.Context, token, requestID string) (time.Time, error) {
	id, secret, ok := splitToken(token)
	if !ok {
		return time.Time{}, ErrNotFound
	}
	rec, err := s.store.load(ctx, id)
	if err != nil {
		return time.Time{}, err
	}
	h, err := s.keys.SumWith(rec["hk"], "link", []byte(id), []byte(secret))
	if err != nil {
		return time.Time{}, ErrNotFound
	}
	return s.extend(ctx, id, rec, string(h[:macLen]), requestID)
}

// extend runs extend.lua on verification id (rec, as read before) and, once it
// extended, moves the conversation's pointer. linkHash is the keyed hash of a
// magic-link page's token ("" for a code page).
func (s *Service) extend(ctx context.Context, id string, rec record, linkHash, requestID string) (time.Time, error) {
	now := s.now()
	reply, err := s.store.run(ctx, extendScript, []string{recordKey(id), identityKey(id)}, ms(now),
		requestField(s.keys, "extend", requestID), linkHash, s.cfg.MaxExtensions, s.cfg.MaxTTL.Milliseconds(),
		s.cfg.Retention.Milliseconds())
	if err != nil {
		return time.Time{}, err
	}
	outcome := status(reply)
	switch outcome {
	case "extended":
	case "limit":
		s.metrics.extended.WithLabelValues("limit").Inc()
		return time.Time{}, ErrExtendLimit
	case "cap":
		s.metrics.extended.WithLabelValues("cap").Inc()
		return time.Time{}, ErrExtendMaxTTL
	case "expired":
		s.metrics.extended.WithLabelValues("ended").Inc()
		return time.Time{}, ErrExpired
	case "state":
		s.metrics.extended.WithLabelValues("ended").Inc()
		return time.Time{}, ErrNotPending
	case "gone":
		return time.Time{}, ErrNotFound
	default:
		return time.Time{}, errors.Join(ErrUnavailable, fmt.Errorf("unexpected outcome %q", outcome))
	}
	v, _ := replyString(reply, 1)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, errors.Join(ErrUnavailable, errors.New("extend: malformed expiry"))
	}
	until := time.UnixMilli(n)
	// The pointer lives until the verification's record may: a repeat of the request
	// (the answer recorded) moves it again, so a failure here heals on retry. Until
	// then the pointer lapses at the old time and the grant stops standing: closed.
	p := s.conversation(rec["cl"], rec["cv"])
	if _, err := s.store.pipelined(ctx, []scriptCall{{conversationExtendScript, []string{p.key},
		[]any{ms(now), p.field, id, ms(until.Add(s.verifiedTTL()))}}}); err != nil {
		return time.Time{}, err
	}
	s.metrics.extended.WithLabelValues("extended").Inc()
	return until, nil
}

// extendable tells whether a page may offer more time on rec: it was extended fewer
// than Config.MaxExtensions times and its expiry is short of its creation plus
// Config.MaxTTL. extend.lua decides; this only spares the page a button that would be
// refused.
func (s *Service) extendable(rec record) bool {
	if rec.int("xn") >= s.cfg.MaxExtensions {
		return false
	}
	created, expires := rec.time("ct"), rec.time("ex")
	return !created.IsZero() && expires.Before(created.Add(s.cfg.MaxTTL))
}
