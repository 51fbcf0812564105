package challenge

import (
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/assertion"
)

// One conversation, one live grant. A client's conversation names one pointer, a
// field in one of conversationBuckets shared hashes on a slot of its own (see
// scripts/conversation.lua), whatever tag its verifications land on: a start that
// names the customer lands on the customer's tag, one that names none on the
// identity's, and both meet at the pointer. A start takes the pointer in its first
// round trip (before anything is sent), and from then on only the new verification's
// assertions stand: CheckAssertion and RecordDisclosure read the pointer with the
// record. When the start took the conversation from another verification, a second
// round trip, before anything is sent, ends what that one started or granted on its
// own record (supersede.lua), so it can no longer be completed while the new code is
// on its way and GetVerification says it is revoked. The pointer keeps the last few
// verifications it was taken from, so a replayed or retried start supersedes its
// predecessor again, and an older start's retry takes nothing back and is ended
// itself (settleConversation). A start that makes no verification gives the pointer
// back (conversation_restore.lua).

var (
	//go:embed scripts/conversation.lua
	conversationSrc string
	//go:embed scripts/conversation_restore.lua
	conversationRestoreSrc string
	//go:embed scripts/supersede.lua
	supersedeSrc string

	conversationScript        = redis.NewScript(conversationSrc)
	conversationRestoreScript = redis.NewScript(conversationRestoreSrc)
	supersedeScript           = transition(supersedeSrc)
)

// conversationBuckets is how many hashes the conversation pointers share: enough
// to spread them over a Cluster's slots, few enough that a bucket stays a compact
// listpack (about 25 fields each at 100,000 live conversations).
const conversationBuckets = 4096

// pointer is where a client's conversation's pointer lives.
type pointer struct{ key, field string }

// conversation returns the pointer of clientID's conversationID: the bucket and
// field come from one keyed hash, so neither names the client or the conversation.
func (s *Service) conversation(clientID, conversationID string) pointer {
	h := s.keys.Name("conversation-pointer", []byte(clientID), []byte(conversationID))
	bucket := (int(h[0])<<8 | int(h[1])) % conversationBuckets
	return pointer{key: "cv:{" + strconv.Itoa(bucket) + "}", field: base64.RawURLEncoding.EncodeToString(h[2:11])}
}

// take is the start's call that makes id its conversation's live verification until
// until (conversation.lua); its reply says whether it took the conversation, held it
// already, or found it held by a newer verification.
func (p pointer) take(id string, now, until time.Time) scriptCall {
	return scriptCall{conversationScript, []string{p.key}, []any{ms(now), p.field, id, ms(until)}}
}

// restore gives the conversation back to the verification the start that took it
// as id displaced, when that start made no verification.
func (p pointer) restore(id string) scriptCall {
	return scriptCall{conversationRestoreScript, []string{p.key}, []any{p.field, id}}
}

// holder returns the verification id a pointer value names ("" for none).
func holder(value string) string {
	id, _, _ := strings.Cut(value, "|")
	return id
}

// supersede is the call that ends what prev, the verification id took its
// conversation from, started or granted, or none when there is nothing to end.
func (s *Service) supersede(prev, id string, now time.Time) []scriptCall {
	if prev == "" || prev == id || !validID(prev) {
		return nil
	}
	return []scriptCall{s.supersedeCall(prev, now)}
}

// supersedeCall ends what verification id started or granted (supersede.lua).
func (s *Service) supersedeCall(id string, now time.Time) scriptCall {
	return scriptCall{supersedeScript, []string{recordKey(id)}, []any{s.store.pubCmd, ms(now)}}
}

// Grant names an assertion as a check of its standing needs it, from its claims.
type Grant struct {
	// VerificationID is the assertion's verification (vid).
	VerificationID string
	// AssertionID is its jti: bound to the incarnation of the verification's
	// record, so a record made again (after a data loss) never brings it back.
	AssertionID string
	// ClientID (azp) and ConversationID name the conversation whose live
	// verification alone stands. An assertion minted before it carried azp has
	// none: the record's client is read first (one more round trip).
	ClientID, ConversationID string
	// Handover (hov) and Audience (aud) are set on an assertion a handover
	// redemption minted: its jti is its own (handoverJTI), bound to the handover,
	// the channel's client and the kind as well as to the record's incarnation.
	Handover, Audience string
}

// GrantOf names the assertion whose verified claims are c.
func GrantOf(c assertion.Claims) Grant {
	g := Grant{VerificationID: c.VerificationID, AssertionID: c.ID, ClientID: c.ClientID,
		ConversationID: c.ConversationID}
	if c.Handover != "" {
		g.Handover, g.Audience = c.Handover, c.Audience
	}
	return g
}

// standing reads what decides whether g stands, in one round trip: the record's
// own verdict (prelude.lua's stands), its creation time and client, and the
// conversation's pointer. It returns nil while g stands, ErrRevoked once it does not
// (superseded, canceled, its factor removed, another incarnation, or gone), and an
// error wrapping ErrUnavailable when that cannot be told.
func (s *Service) standing(ctx context.Context, g Grant) error {
	if !validID(g.VerificationID) || g.ConversationID == "" {
		return ErrRevoked
	}
	now := ms(s.now())
	record := scriptCall{standingScript, []string{recordKey(g.VerificationID)}, []any{s.store.pubCmd, now}}
	var rec []any
	var held string
	if g.ClientID != "" {
		p := s.conversation(g.ClientID, g.ConversationID)
		replies, err := s.store.pipelined(ctx, []scriptCall{record, p.read()})
		if err != nil {
			return err
		}
		rec, held = replies[0], replyStr(replies[1])
	} else {
		replies, err := s.store.pipelined(ctx, []scriptCall{record})
		if err != nil {
			return err
		}
		rec = replies[0]
		cl, _ := replyString(rec, 2)
		if cl == "" {
			return ErrRevoked
		}
		p := s.conversation(cl, g.ConversationID)
		r, err := s.store.pipelined(ctx, []scriptCall{p.read()})
		if err != nil {
			return err
		}
		held = replyStr(r[0])
	}
	created, _ := replyString(rec, 1)
	cl, _ := replyString(rec, 2)
	switch {
	case status(rec) != "stands":
		return ErrRevoked
	case g.ClientID != "" && cl != g.ClientID:
		return ErrRevoked
	case holder(held) != g.VerificationID:
		// A newer verification took the conversation (or the pointer lapsed).
		return ErrRevoked
	case g.Handover == "" && g.AssertionID != s.jti(g.VerificationID, created):
		return ErrRevoked
	case g.Handover != "" && !s.handoverJTIOK(g, created):
		return ErrRevoked
	}
	return nil
}

//go:embed scripts/conversation_read.lua
var conversationReadSrc string

var conversationReadScript = redis.NewScript(conversationReadSrc)

// read is the call that reads the pointer's value.
func (p pointer) read() scriptCall {
	return scriptCall{conversationReadScript, []string{p.key}, []any{p.field}}
}

// replyStr is the first element of a reply as a string ("" for none).
func replyStr(reply []any) string {
	v, _ := replyString(reply, 0)
	return v
}

// jti is the assertion id of verification id's record created at created (ms, as
// the standing script reports it): a keyed hash of both, so that two incarnations
// of one verification id never share a jti.
func (s *Service) jti(id, created string) string {
	return base64.RawURLEncoding.EncodeToString(s.keys.Name("jti", []byte(id), []byte(created))[:16])
}

// handoverJTI is the assertion id of what handover hid of verification id's record
// created at created handed over to client as kind (hov): "<handover id>.<keyed
// hash>", the hash of all five. It is never the verification's own jti (a tool that
// keeps jtis tells the platform's assertion from the channel's), it is the same
// for every answer of one redemption (a handover is redeemed once), and the
// standing check recomputes it from the claims alone (the handover id is in it).
func (s *Service) handoverJTI(id, created, hid, kind, client string) string {
	mac := s.keys.Name("handover-jti", []byte(id), []byte(created), []byte(hid), []byte(kind), []byte(client))
	return hid + "." + base64.RawURLEncoding.EncodeToString(mac[:16])
}

// handoverJTIOK reports whether g's jti is the one handoverJTI gave the handover it
// names, for g's verification, incarnation, kind and audience.
func (s *Service) handoverJTIOK(g Grant, created string) bool {
	i := strings.LastIndexByte(g.AssertionID, '.')
	if i < 0 || !validHandoverID(g.AssertionID[:i]) || g.Audience == "" {
		return false
	}
	want := s.handoverJTI(g.VerificationID, created, g.AssertionID[:i], g.Handover, g.Audience)
	return subtle.ConstantTimeCompare([]byte(g.AssertionID), []byte(want)) == 1
}
