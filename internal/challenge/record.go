package challenge

import (
	"strconv"
	"strings"
	"time"

	"github.com/authsvc/authsvc/internal/assurance"
)

// record is a verification as stored: a Redis hash with short field names (a
// pending verification must fit in 512 bytes). Secrets appear only as keyed hashes
// (co: code, ls: link token, dh: destination); the page link is a MAC, not stored.
//
//	st state      rs reason       cl client        nw network     ui user id
//	hm handle mask cu customer    mi min level     au audience    sc scopes
//	ag agent      cv conversation dk dest kind     dm dest mask   dh dest hash
//	lo locale     tt lifetime ms  ex expires ms    at attempts    co code hash
//	ls link hash  mn match no.    dv delivered method
//	(derived, not stored: me methods sent = dv, ct created ms = ex - tt - xd; the
//	attempts that fail a verification are Config.MaxAttempts, passed to the scripts)
//	xn extensions so far   xd ms they added to ex in all (extend.lua; absent: none)
//	dl delivery   dt send claim   sq send count    hk hmac kid    fp fingerprint
//	vt verified   vm method       lv level         rv revoked     ft finished ms
//	em enrolled methods offered (TOTP, WebAuthn; written by the start script)
//	ck customer hash   cs created ms (for the factor scripts; known customers only)
//	lc the identity's linked customer, when the start named none (the subject)
//	lb the client that made that link ("" or absent: made before links recorded it)
//	ln "1" when the start found its customer through the identity's link ('ck')
//	bb the keyed hash of the browser that completed it (verified only)
//	vf the factor that completed it (verified only): its assertion stands while held
//	vx passkey flags of the completion ('u' user verified, 'b' backup eligible)
//	ho the live handover: "kind|handover id|expiry ms|channel" (handover.go)
//	hr the platform's case reference of that handover (erased with the record)
//	r:… outcomes of request ids (JSON)
type record map[string]string

// view is r.view with the service's attempt limit.
func (s *Service) view(r record, id string, now time.Time) *Verification {
	return r.view(id, now, s.cfg.MaxAttempts)
}

// packedFields are the record fields no script reads. They are stored joined and
// cut into chunks "p0", "p1", … of at most listpackValue bytes: a Redis hash stays a
// compact listpack only while every value is at most 64 bytes (the default
// hash-max-listpack-value), and one longer value — a long conversation id — would
// turn the whole record into a hash table three times the size. Packing also saves
// the per-field overhead of a dozen small fields.
//
// The audit trail's Lua reads the agent as the 8th packed field (prelude.lua,
// AGENT_FIELD): keep "ag" where it is. Package identity's erasure reads the first
// two (network, user id).
//
// Some fields are derived rather than stored: the methods sent ("me") are the
// delivered method "dv"; the creation time "ct" is the expiry "ex" less the
// lifetime "tt" (ms), which is 6 digits where a time is 13 (prelude.lua reads "tt"
// as the 12th packed field, TT_FIELD), less what extensions added ("xd"); the
// destination kind "dk" is told by its mask "dm" (an email mask has an @, a phone
// mask never does).
var packedFields = []string{"nw", "ui", "hm", "cu", "mi", "au", "sc", "ag", "cv", "dm", "lo", "tt", "hk"}

// macLen is how much of a keyed hash a record keeps of a code, a link token or a
// destination: 64 bits. The MAC key never reaches Redis, so a reader of Redis can
// neither test a guess against the stored value nor forge one; online guesses are
// bounded by the attempt limits, not by this length. Eight bytes less per hash keep
// a pending record in a smaller allocation.
const macLen = 8

const (
	listpackValue = 64
	fieldSep      = "\x1f" // validation refuses control characters in every packed value
)

// pack returns the packed fields of r as field, value pairs for HSET.
func (r record) pack() []any {
	vals := make([]string, len(packedFields))
	for i, f := range packedFields {
		vals[i] = r[f]
	}
	joined := strings.Join(vals, fieldSep)
	// As few chunks as listpackValue allows, cut to even lengths: a listpack
	// string of up to 63 bytes has a 1-byte header and one of 64 a 2-byte one,
	// so 114 bytes go as 57 + 57, not 64 + 50. That byte is the one that keeps
	// the bench's record in the 256-byte allocation class (BENCHMARKS.md).
	// Readers join the chunks whatever their lengths.
	chunks := (len(joined) + listpackValue - 1) / listpackValue
	out := make([]any, 0, 2*chunks)
	for i := range chunks {
		n := (len(joined) + chunks - i - 1) / (chunks - i)
		out = append(out, "p"+strconv.Itoa(i), joined[:n])
		joined = joined[n:]
	}
	return out
}

// unpackedFields is how many fields unpack adds at most: the packed ones, and
// "ct", "me" and "dk".
var unpackedFields = len(packedFields) + 3

// unpack restores the packed fields of a record read from Redis.
func (r record) unpack() {
	var b strings.Builder
	for i := 0; ; i++ {
		chunk, ok := r["p"+strconv.Itoa(i)]
		if !ok {
			break
		}
		b.WriteString(chunk)
	}
	vals := strings.Split(b.String(), fieldSep)
	for i, f := range packedFields {
		if i < len(vals) {
			r[f] = vals[i]
		}
	}
	ex, err1 := strconv.ParseInt(r["ex"], 10, 64)
	tt, err2 := strconv.ParseInt(r["tt"], 10, 64)
	if err1 == nil && err2 == nil {
		// An extension (extend.lua) moves ex and counts what it added in xd.
		xd, _ := strconv.ParseInt(r["xd"], 10, 64)
		r["ct"] = strconv.FormatInt(ex-tt-xd, 10)
	}
	r["me"] = r["dv"]
	switch {
	case strings.Contains(r["dm"], "@"):
		r["dk"] = strconv.Itoa(int(Email))
	case r["dm"] != "":
		r["dk"] = strconv.Itoa(int(Phone))
	}
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func (r record) int(f string) int {
	n, _ := strconv.Atoi(r[f])
	return n
}

func (r record) time(f string) time.Time {
	n, err := strconv.ParseInt(r[f], 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n)
}

func encodeMethods(ms []Method) string {
	var b strings.Builder
	for _, m := range ms {
		b.WriteString(strconv.Itoa(int(m)))
	}
	return b.String()
}

func decodeMethods(s string) []Method {
	out := make([]Method, 0, len(s))
	for _, c := range s {
		out = append(out, Method(c-'0'))
	}
	return out
}

// view turns a record into what the platform sees, with the state as of now: a
// pending verification past its stored expiry is reported EXPIRED even before a
// script has written that down.
func (r record) view(id string, now time.Time, maxAttempts int) *Verification {
	v := &Verification{
		ID:              id,
		ClientID:        r["cl"],
		State:           State(r.int("st")),
		Reason:          Reason(r.int("rs")),
		Network:         r["nw"],
		UserID:          r["ui"],
		HandleMask:      r["hm"],
		CustomerID:      r["cu"],
		Methods:         r.methods(),
		MinAssurance:    assurance.Level(r.int("mi")),
		Audience:        r["au"],
		AgentID:         r["ag"],
		ConversationID:  r["cv"],
		DestinationMask: r["dm"],
		DeliveredMethod: Method(r.int("dv")),
		Delivery:        DeliveryState(r.int("dl")),
		AttemptsLeft:    max(0, maxAttempts-r.int("at")),
		Locale:          r["lo"],
		SMSRefused:      r["rr"],
		Created:         r.time("ct"),
		Expires:         r.time("ex"),
		Revoked:         r["rv"] == "1",
	}
	if sc := r["sc"]; sc != "" {
		v.Scopes = strings.Split(sc, " ")
	}
	if v.CustomerID == "" {
		v.CustomerID = r["lc"]
	}
	if v.State == Pending && !now.Before(v.Expires) {
		v.State = Expired
	}
	if v.State == Verified {
		v.VerifiedAt = r.time("vt")
		v.Method = Method(r.int("vm"))
		v.Level = assurance.Level(r.int("lv"))
		v.AMR = amrFor(v.Method, DestinationKind(r.int("dk")))
		if v.Method == WebAuthn {
			v.AMR = amrPasskey(r["vx"])
		}
	}
	return v
}

// methods are the methods the verification offers: the one sent (none when its
// send was refused for the identity and an enrolled method stood in), then the
// enrolled ones.
func (r record) methods() []Method {
	return append(decodeMethods(r["dv"]), decodeMethods(r["em"])...)
}

// amrFor returns the RFC 8176 amr values a completed method earned.
func amrFor(m Method, dk DestinationKind) []string {
	channel := assurance.AMREmail
	if dk == Phone {
		channel = assurance.AMRSMS
	}
	switch m {
	case OTPEmail:
		return []string{assurance.AMROTP, assurance.AMREmail}
	case OTPSMS:
		return []string{assurance.AMROTP, assurance.AMRSMS}
	case MagicLink:
		return []string{assurance.AMROTP, channel}
	case TOTP:
		return []string{assurance.AMROTP}
	}
	return nil
}
