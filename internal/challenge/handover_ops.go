package challenge

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/authsvc/authsvc/internal/assertion"
	"github.com/authsvc/authsvc/internal/audit"
)

// CreateHandover offers a handover on verification r.VerificationID of
// r.ClientID, replacing any earlier one. The verification must be PENDING or
// VERIFIED and standing (ErrHandoverState); an unknown or another client's is
// ErrNotFound. A repeated request id returns the same handover.
func (s *Service) CreateHandover(ctx context.Context, r HandoverRequest) (*Handover, error) {
	if !validID(r.VerificationID) {
		return nil, ErrNotFound
	}
	now := s.now()
	exp := now.Add(s.handover.OfferTTL)
	for attempt := 0; attempt < 3; attempt++ {
		id, err := s.handoverID(r, attempt)
		if err != nil {
			return nil, err
		}
		if r.Kind != HandoverPhone {
			replies, err := s.store.pipelined(ctx, []scriptCall{s.createCall(r, id, exp)})
			if err != nil {
				return nil, err
			}
			return createdHandover(replies[0], r, id)
		}
		// A phone handover's code is reserved first (in the round trip that reads
		// where its verification's conversation pointer is), so that no page
		// shows a code another live handover holds; the create then completes the
		// index entry with the pointer, for the redemption to read it in the
		// round trip of its script.
		cur, prev, end := s.callKeys(r.Redeemer, now)
		field := s.callField(s.callCode(id))
		ttl := end.Add(s.handover.OfferTTL + time.Minute).Sub(now).Milliseconds()
		replies, err := s.store.pipelined(ctx, []scriptCall{
			{handoverConversationScript, []string{recordKey(r.VerificationID)}, []any{s.store.pubCmd, ms(now)}},
			{callTakeScript, []string{cur, prev}, []any{field, id, ttl}},
		})
		if err != nil {
			return nil, err
		}
		if intAt(replies[1], 0) != 1 {
			continue // the code is another live handover's: draw another
		}
		// A record of another client (or none) names no pointer of this client's:
		// the create refuses it, and the entry goes with it.
		cl, _ := replyString(replies[0], 0)
		conv, _ := replyString(replies[0], 1)
		p := s.conversation(cl, conv)
		replies, err = s.store.pipelined(ctx, []scriptCall{s.createCall(r, id, exp),
			{callPointScript, []string{cur, prev}, []any{field, id, id + "|" + p.key + "|" + p.field}}})
		var h *Handover
		if err == nil {
			h, err = createdHandover(replies[0], r, id)
		}
		if err != nil {
			// Nothing is left of a refused create: the reserved code goes too.
			s.rdb.HDel(context.WithoutCancel(ctx), cur, field)
		}
		return h, err
	}
	return nil, fmt.Errorf("%w: no free call code", ErrUnavailable)
}

// createCall is the handover_create run that offers handover id.
func (s *Service) createCall(r HandoverRequest, id string, exp time.Time) scriptCall {
	ttl := s.handover.OfferTTL + 10*time.Minute
	return scriptCall{handoverCreateScript, []string{handoverKey(id), recordKey(r.VerificationID)},
		[]any{s.store.pubCmd, ms(s.now()), r.ClientID, r.VerificationID, strconv.Itoa(int(r.Kind)), r.Channel,
			r.Redeemer, r.CaseReference, ms(exp), ttl.Milliseconds()}}
}

// createdHandover maps handover_create's reply.
func createdHandover(reply []any, r HandoverRequest, id string) (*Handover, error) {
	switch status(reply) {
	case "ok":
		e, _ := replyString(reply, 1)
		n, _ := strconv.ParseInt(e, 10, 64)
		return &Handover{ID: id, VerificationID: r.VerificationID, Kind: r.Kind, State: HandoverOffered,
			Channel: r.Channel, Expires: time.UnixMilli(n)}, nil
	case "notfound":
		return nil, ErrNotFound
	case "state":
		return nil, ErrHandoverState
	case "reused":
		return nil, ErrRequestReused
	}
	return nil, fmt.Errorf("%w: unexpected handover reply %q", ErrUnavailable, status(reply))
}

// GetHandover returns a handover clientID created: one round trip (a read-only
// script reads the handover and what its record says of it). An unknown or
// another client's handover is ErrNotFound; one a newer handover of its
// verification replaced reads as HandoverExpired, its channel and expiry unknown.
func (s *Service) GetHandover(ctx context.Context, clientID, id string) (*Handover, error) {
	if !validHandoverID(id) {
		return nil, ErrNotFound
	}
	res, err := handoverGetScript.Run(ctx, s.rdb, []string{handoverKey(id)}).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if len(res) != 6 || res[4] != clientID {
		return nil, ErrNotFound
	}
	kind, _ := strconv.Atoi(res[1])
	st, _ := strconv.Atoi(res[2])
	h := &Handover{ID: id, VerificationID: res[0], Kind: HandoverKind(kind), State: HandoverState(st)}
	now := s.now()
	o := s.parseOffer(record{"ho": res[5]}, time.Time{})
	if o != nil {
		h.Channel, h.Expires = o.Channel, o.Expires
	}
	codeExp, _ := strconv.ParseInt(res[3], 10, 64)
	switch {
	case h.State == HandoverRedeemed:
	case o == nil,
		h.State == HandoverOffered && !now.Before(h.Expires),
		h.State == HandoverBound && !now.Before(time.UnixMilli(codeExp)):
		h.State = HandoverExpired
	}
	return h, nil
}

// OpenHandover returns the live handover the verified code page of token offers
// to the browser whose binding hash is binding: one round trip, read only.
// Anything else (not verified, revoked, another browser, no live handover) is
// ErrNotFound.
func (s *Service) OpenHandover(ctx context.Context, token, binding string) (*Offer, error) {
	id, _, err := s.pageKey(token)
	if err != nil {
		return nil, err
	}
	now := s.now()
	rec, err := s.store.loadStanding(ctx, id, ms(now))
	if err != nil {
		return nil, err
	}
	v := s.view(rec, id, now)
	if v.State != Verified || v.Revoked || binding == "" ||
		subtle.ConstantTimeCompare([]byte(rec["bb"]), []byte(binding)) != 1 {
		return nil, ErrNotFound
	}
	o := s.parseOffer(rec, now)
	if o == nil {
		return nil, ErrNotFound
	}
	if o.Kind == HandoverSecureChannel {
		o.State = s.BindState(o.HandoverID, binding)
	}
	return o, nil
}

// BindHandover binds secure-channel handover id to the browser whose binding
// hash is binding and to the channel's PKCE challenge, and returns the code the
// channel redeems: one round trip. state is what the channel brought back, which
// must be BindState(id, binding): the continue form gave it to this browser for
// this handover, so a cross-site request that merely knows the handover id cannot
// bind (ErrHandoverBindState). channels are the channels whose redirect URLs
// include the one the browser is to be sent to. Binding again from the same
// browser with the same state and challenge returns the same code. An unknown
// handover is ErrNotFound; a refusal (ErrHandoverBrowser, ErrHandoverBindState,
// ErrHandoverRedirect, ErrHandoverUsed, ErrHandoverExpired, ErrHandoverRevoked)
// changes nothing but the audit trail, once per reason.
func (s *Service) BindHandover(ctx context.Context, id, state, challenge, binding string, channels []string) (string, error) {
	if !validHandoverID(id) {
		return "", ErrNotFound
	}
	stateOK := "0"
	if want := s.BindState(id, binding); want != "" && len(state) == bindStateLen &&
		subtle.ConstantTimeCompare([]byte(state), []byte(want)) == 1 {
		stateOK = "1"
	}
	now := s.now()
	allowed := "|" + strings.Join(channels, "|") + "|"
	reply, err := s.store.run(ctx, handoverBindScript, []string{handoverKey(id)},
		ms(now), binding, challenge, allowed, ms(now.Add(s.handover.CodeTTL)), stateOK)
	if err != nil {
		return "", err
	}
	if err := handoverRefusal(reply); err != nil {
		return "", err
	}
	return id + "~" + s.channelSecret(id, challenge), nil
}

// handoverRefusal maps a handover script's refusal to its error; nil for 'ok'.
func handoverRefusal(reply []any) error {
	switch status(reply) {
	case "ok":
		return nil
	case "gone":
		return ErrNotFound
	case "refused":
		reason, _ := replyString(reply, 1)
		switch reason {
		case "used":
			return ErrHandoverUsed
		case "expired":
			return ErrHandoverExpired
		case "client":
			return ErrHandoverClient
		case "unbound":
			return ErrHandoverUnbound
		case "verifier":
			return ErrNotFound
		case "redirect":
			return ErrHandoverRedirect
		case "browser":
			return ErrHandoverBrowser
		case "state_mismatch":
			return ErrHandoverBindState
		case "superseded", "revoked", "state":
			return ErrHandoverRevoked
		}
	}
	return fmt.Errorf("%w: unexpected handover reply %q", ErrUnavailable, status(reply))
}

// SplitHandoverCode splits a secure-channel code into its handover id and
// secret; ok is false for anything not shaped like one.
func SplitHandoverCode(code string) (id, secret string, ok bool) {
	id, secret, ok = strings.Cut(code, "~")
	if !ok || !validHandoverID(id) || len(secret) != 22 {
		return "", "", false
	}
	if _, err := base64.RawURLEncoding.DecodeString(secret); err != nil {
		return "", "", false
	}
	return id, secret, true
}

// RedeemHandover redeems secure-channel code, bound to the PKCE challenge
// challenge (the S256 of the verifier the caller presented), as clientID: two
// round trips (the script, then the conversation's pointer). It answers once; a
// code this service never made for that challenge is ErrNotFound; a second, late
// or foreign redemption (ErrHandoverUsed, ErrHandoverExpired, ErrHandoverClient),
// one never bound (ErrHandoverUnbound) or of a verification that no longer stands
// on its record (ErrHandoverRevoked) consumes nothing and is audited. One whose
// verification is no longer its conversation's latest is ErrHandoverRevoked too,
// read after the script spent the code (redeemWith).
func (s *Service) RedeemHandover(ctx context.Context, clientID, code, challenge string) (*Redemption, error) {
	id, secret, ok := SplitHandoverCode(code)
	if !ok || subtle.ConstantTimeCompare([]byte(secret), []byte(s.channelSecret(id, challenge))) != 1 {
		return nil, ErrNotFound
	}
	return s.redeem(ctx, clientID, id, HandoverSecureChannel, challenge)
}

// RedeemCallCode redeems a phone handover's call code (its 10 digits) as the
// phone system's client clientID, for the caller callerRef names (an opaque
// reference the IVR derives from the caller; "" for none): two round trips (find
// the code in the client's index, then redeem and read the conversation's pointer
// its entry names; the identity is handed over only while the verification
// stands as CheckAssertion decides). A wrong code counts against the
// caller's failures of the code window (calls without a caller reference share
// one count) and against the client's ceiling; past either, a *CallLimitError
// naming which, and nothing is looked up. The reference is kept only as a keyed
// hash, for the window.
func (s *Service) RedeemCallCode(ctx context.Context, clientID, digits, callerRef string) (*Redemption, error) {
	token, err := s.callToken()
	if err != nil {
		return nil, err
	}
	now := s.now()
	cur, prev, end := s.callKeys(clientID, now)
	ttl := end.Add(s.handover.OfferTTL + time.Minute).Sub(now).Milliseconds()
	keys := []string{cur, prev, audit.StreamKey(clientID, s.store.auditPerTag)}
	callerLimit := s.handover.CallerFailures
	if callerRef == "" {
		callerLimit = s.handover.CallFailures
	}
	args := append([]any{}, ms(now), s.callField(digits), s.handover.ClientFailures, ttl, token, clientID, ms(end),
		s.callerField(clientID, callerRef), callerLimit, "A"+strconv.FormatInt(s.store.auditRetention.Milliseconds(), 10))
	res, err := callFindScript.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	switch status(res) {
	case "ok":
		entry, _ := replyString(res, 1)
		// "<handover id>|<pointer key>|<pointer field>"; the id alone in an entry
		// reserved before entries named the pointer (then it is read after).
		id, at, _ := strings.Cut(entry, "|")
		if !validHandoverID(id) {
			return nil, ErrNotFound
		}
		var ptr *pointer
		if key, field, ok := strings.Cut(at, "|"); ok {
			ptr = &pointer{key: key, field: field}
		}
		return s.redeemWith(ctx, clientID, id, HandoverPhone, "", token, ptr)
	case "limited":
		scope, _ := replyString(res, 2)
		if scope != CallLimitCaller {
			scope = CallLimitClient
		}
		return nil, &CallLimitError{RetryAfter: time.Duration(intAt(res, 1)) * time.Millisecond, Scope: scope}
	}
	return nil, ErrNotFound
}

func (s *Service) redeem(ctx context.Context, clientID, id string, kind HandoverKind, challenge string) (*Redemption, error) {
	token, err := s.callToken()
	if err != nil {
		return nil, err
	}
	return s.redeemWith(ctx, clientID, id, kind, challenge, token, nil)
}

// redeemWith runs the redeem script and builds what it hands over. The record's
// verdict is not the whole of its standing: as for its assertions
// (CheckAssertion), a verification stands only while it holds its conversation's
// pointer, which a newer start takes before it ends the old record
// (supersede.lua), on a slot of its own. ptr, where the call code's index entry
// names it, is read in the same round trip as the script; otherwise (a secure
// channel's code, an entry reserved before entries named it) in a second one,
// only when the record stands. A verification that no longer holds its
// conversation hands over no identity: a secure-channel code is refused
// (ErrHandoverRevoked) and a call code hands over the case alone. Either way
// the handover is spent: the pointer is read once the script consumed it, and a
// verification that lost its conversation never stands again.
func (s *Service) redeemWith(ctx context.Context, clientID, id string, kind HandoverKind, challenge, token string, ptr *pointer) (*Redemption, error) {
	now := s.now()
	calls := []scriptCall{{handoverRedeemScript, []string{handoverKey(id)},
		[]any{s.store.pubCmd, ms(now), clientID, strconv.Itoa(int(kind)), challenge, token}}}
	if ptr != nil {
		calls = append(calls, ptr.read())
	}
	replies, err := s.store.pipelined(ctx, calls)
	if err != nil {
		return nil, err
	}
	reply := replies[0]
	if err := handoverRefusal(reply); err != nil {
		return nil, err
	}
	vid, _ := replyString(reply, 2)
	if len(reply) < 4 || !validID(vid) {
		return nil, fmt.Errorf("%w: unexpected redeem reply", ErrUnavailable)
	}
	rec := flatRecord(reply[3])
	rec.unpack()
	stands := intAt(reply, 1) == 1
	if stands {
		p := s.conversation(rec["cl"], rec["cv"])
		var held string
		if ptr != nil && *ptr == p {
			held = replyStr(replies[1])
		} else {
			r, err := s.store.pipelined(ctx, []scriptCall{p.read()})
			if err != nil {
				return nil, err
			}
			held = replyStr(r[0])
		}
		if holder(held) != vid {
			// A newer verification took the conversation (or the pointer lapsed).
			if kind == HandoverSecureChannel {
				return nil, ErrHandoverRevoked
			}
			stands = false
		}
	}
	return s.redemption(rec, id, vid, kind, stands, clientID, now)
}

// redemption builds what a redeemed handover hands over from its record: the
// case context always; the verified identity and a fresh assertion for the
// redeeming client (hov: the kind) only while the verification stands.
func (s *Service) redemption(rec record, id, vid string, kind HandoverKind, stands bool, clientID string, now time.Time) (*Redemption, error) {
	v := s.view(rec, vid, now)
	r := &Redemption{HandoverID: id, VerificationID: vid, Kind: kind, ConversationID: v.ConversationID,
		AgentID: v.AgentID, CaseReference: rec["hr"]}
	if !stands || v.State != Verified || v.Revoked {
		return r, nil
	}
	r.Verified = true
	r.Network, r.UserID, r.CustomerID = v.Network, v.UserID, v.CustomerID
	r.Level, r.AMR, r.VerifiedAt = v.Level, v.AMR, v.VerifiedAt
	exp := now.Add(s.minter.Lifetime())
	jti := s.handoverJTI(vid, strconv.FormatInt(v.Created.UnixMilli(), 10), id, kind.String(), clientID)
	sub := v.CustomerID
	if sub == "" {
		sub = v.Network + ":" + v.UserID
	}
	// The audience is the redeeming client and hov says where it was handed over;
	// the jti is the handover's own (handoverJTI), bound to both and to the
	// record's incarnation, so the verification's standing still decides its own.
	tok, err := s.minter.Mint(assertion.Claims{
		Subject: sub, Audience: clientID, IssuedAt: now, NotBefore: now, Expiry: exp,
		AuthTime: v.VerifiedAt, ID: jti, Level: v.Level, AMR: v.AMR, Network: v.Network, UserID: v.UserID,
		ConversationID: v.ConversationID, AgentID: v.AgentID, Scopes: v.Scopes, VerificationID: vid,
		ClientID: v.ClientID, Handover: kind.String(),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: sign: %w", ErrUnavailable, err)
	}
	r.Assertion = &Assertion{Token: tok, ID: jti, Expires: exp}
	return r, nil
}

// CodePageToken returns the code page's token of the verification a magic link
// token names, so that the page that just verified through the link can offer its
// handover there (a used link no longer opens). The caller must have seen the
// link verify in this very request (ConfirmLink answered OutcomeVerified): the
// token is not checked again. Nothing is read.
func (s *Service) CodePageToken(linkToken string) (string, error) {
	id, _, ok := splitToken(linkToken)
	if !ok {
		return "", ErrNotFound
	}
	mac, err := pageMAC(s.keys, s.keys.Current(), id)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return id + "." + mac, nil
}
