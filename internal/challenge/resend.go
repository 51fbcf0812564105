package challenge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/authsvc/authsvc/internal/identity"
)

// ResendRequest asks for a new code or link.
type ResendRequest struct {
	ClientID    string
	ID          string
	Destination *Destination
	RequestID   string
}

// Resend sends a new secret; the previous code or link stops working at once.
func (s *Service) Resend(ctx context.Context, r ResendRequest) (*Verification, string, error) {
	var v ValidationError
	checkText(&v, "request_id", r.RequestID, true, 128)
	var dest contact
	if r.Destination == nil {
		v.add("destination", "is required: authsvc keeps only a keyed hash of it")
	} else {
		var problem string
		if dest, problem = r.Destination.check(s.cfg.EmailRules); problem != "" {
			v.add(r.Destination.field(), problem)
		} else {
			s.checkNumberType(&v, dest)
		}
	}
	if err := v.orNil(); err != nil {
		return nil, "", err
	}
	if !validID(r.ID) {
		return nil, "", ErrNotFound
	}
	rec, err := s.store.load(ctx, r.ID)
	if err != nil {
		return nil, "", err
	}
	if rec["cl"] != r.ClientID {
		return nil, "", ErrNotFound
	}
	if !s.countryAllowed(dest) {
		return nil, "", &ValidationError{Violations: []Violation{{Field: "destination.phone", Description: "SMS to this country is not enabled"}}}
	}
	cur := s.view(rec, r.ID, s.now())
	if reason := s.screen(ctx, dest, r.ID); reason != "" {
		// The risk hook refuses a new SMS as it refuses a first one.
		return nil, "", &SMSRefusedError{Reason: reason}
	}
	// One token for the call's scripts: the send limits' and the resend's.
	token, err := s.callToken()
	if err != nil {
		return nil, "", err
	}
	// The send limits first, on their own slots; whatever does not end in a send is
	// taken back.
	rf := requestField(s.keys, "resend", r.RequestID)
	limits, cells := s.sendLimits(r.ClientID, rec["ag"], dest), s.breakerCellsOf(dest)
	replies, err := s.store.pipelined(ctx, append(limitCalls(limits, ms(s.now()), token), s.breakerCalls(cells, ms(s.now()), token)...))
	if err != nil {
		// The limits may have counted, their replies lost on every try.
		s.refundWithin(ctx, releaseTimeout, token, slices.Concat(limits, cells))
		return nil, "", err
	}
	denied, added := limitOutcome(limits, replies[:len(limits)])
	denied, added = s.breakerOutcome(ctx, cells, replies[len(limits):], denied, added)
	if denied != nil {
		s.refund(ctx, token, added, scriptCall{refusedScript,
			[]string{recordKey(r.ID), identity.CustomerKey(r.ID[:tagLen], rec["ck"]), replayKey(r.ID, token)},
			[]any{s.store.pubCmd, ms(s.now()), rec["cl"], rec["ag"], cur.DeliveredMethod.String(), rec["ih"], rec["ck"],
				denied.Scope, cur.DestinationMask, replayWindow.Milliseconds()}})
		s.metrics.observeLimit(denied.Scope)
		return nil, "", denied
	}
	v2, match, sent, err := s.resend(ctx, r, rec, cur, dest, rf, token)
	if !sent {
		// Nothing left (a refusal, or a repeat of a request that already sent): take
		// the send back from the windows.
		s.refund(ctx, token, added)
	}
	return v2, match, err
}

// resend claims and makes the send of Resend once the send limits allow it.
func (s *Service) resend(ctx context.Context, r ResendRequest, rec record, cur *Verification, dest contact, rf, token string) (v *Verification, match string, sent bool, err error) {
	secret, secretHash, err := s.newSecret(cur.DeliveredMethod, rec["hk"], r.ID)
	if err != nil {
		return nil, "", false, err
	}
	codeHash, linkHash := string(secretHash), ""
	if cur.DeliveredMethod == MagicLink {
		codeHash, linkHash = "", string(secretHash)
	}
	destHash, err := s.keys.SumWith(rec["hk"], "destination", []byte{byte(dest.Kind)}, []byte(dest.key))
	if err != nil {
		return nil, "", false, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	reply, err := s.store.run(ctx, resendScript, []string{recordKey(r.ID), identityKey(r.ID)}, ms(s.now()),
		rf, string(destHash[:macLen]), codeHash, linkHash,
		(2 * s.cfg.SendTimeout).Milliseconds(), s.cfg.MaxSends, s.identityLimits(), s.cfg.Limits.SendWindow.Milliseconds(), token)
	if err != nil {
		// As in Start: a claim this call made and will not honour is given up.
		s.release(ctx, r.ID, token, rf)
		return nil, "", false, err
	}
	switch status(reply) {
	case "send":
		if err := s.deliver(ctx, cur, dest, secret, strconv.Itoa(intAt(reply, 1))); err != nil {
			return nil, "", true, err
		}
		sent = true
	case "repeat":
	case "gone":
		return nil, "", false, ErrNotFound
	case "expired":
		return nil, "", false, ErrExpired
	case "state":
		return nil, "", false, ErrNotPending
	case "nothing":
		return nil, "", false, ErrNothingToSend
	case "mismatch":
		return nil, "", false, ErrDestinationMismatch
	case "busy":
		return nil, "", false, ErrSendInProgress
	case "limit":
		return nil, "", false, ErrResendLimit
	case "locked", "limited":
		s.metrics.observeLimit("identity")
		return nil, "", false, &LimitError{Scope: "identity", RetryAfter: time.Duration(intAt(reply, 1)) * time.Millisecond}
	}
	// The answer is the record as loaded, with this call's send: no read again. A
	// repeat answers the record as it was loaded, which already shows the first send.
	after := *cur
	if sent {
		after.Delivery = DeliverySent
	}
	return &after, rec["mn"], sent, nil
}

// Cancel ends a pending verification as CANCELED, or revokes a verified one's
// assertion (the conversation ended). Failed, expired and canceled ones answer
// ErrNotPending.
func (s *Service) Cancel(ctx context.Context, clientID, id, requestID string) (*Verification, error) {
	var v ValidationError
	checkText(&v, "request_id", requestID, true, 128)
	if err := v.orNil(); err != nil {
		return nil, err
	}
	if !validID(id) {
		return nil, ErrNotFound
	}
	reply, err := s.store.run(ctx, cancelScript, []string{recordKey(id)}, ms(s.now()),
		requestField(s.keys, "cancel", requestID), clientID)
	if err != nil {
		return nil, err
	}
	switch status(reply) {
	case "gone":
		return nil, ErrNotFound
	case "state":
		return nil, ErrNotPending
	case "canceled":
		s.metrics.finished.WithLabelValues("canceled").Inc()
	}
	return s.Get(ctx, clientID, id)
}

// ErrRevoked: the verification behind an assertion was canceled or superseded,
// or its record is gone.
var ErrRevoked = errors.New("challenge: assertion revoked")
