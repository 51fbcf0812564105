package challenge

import (
	"context"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/audit"
)

// BreakerMode says what a tripped SMS breaker does.
type BreakerMode int

// Breaker modes.
const (
	breakerDefault BreakerMode = iota
	// BreakerEnforce refuses SMS to a tripped cell (RESOURCE_EXHAUSTED,
	// DESTINATION_BLOCKED).
	BreakerEnforce
	// BreakerMonitor records, audits and counts trips, and refuses nothing.
	BreakerMonitor
	// BreakerOff keeps no breaker state at all.
	BreakerOff
)

// ParseBreakerMode reads "enforce", "monitor" or "off".
func ParseBreakerMode(s string) (BreakerMode, error) {
	switch strings.TrimSpace(s) {
	case "enforce":
		return BreakerEnforce, nil
	case "monitor":
		return BreakerMonitor, nil
	case "off":
		return BreakerOff, nil
	}
	return 0, fmt.Errorf("%q: want enforce, monitor or off", s)
}

func (m BreakerMode) String() string {
	switch m {
	case BreakerMonitor:
		return "monitor"
	case BreakerOff:
		return "off"
	}
	return "enforce"
}

// BreakerThreshold is the adaptive threshold of one kind of cell (authgear's
// shape): a cell trips when its unentered codes exceed
//
//	over a day:   max(FloorDay, Ratio × the most codes entered in a day of the last 14, Ratio × codes entered in the last 24 h)
//	over an hour: max(FloorHour, the day's threshold / 6, Ratio × codes entered in the last hour)
type BreakerThreshold struct {
	FloorDay  float64
	FloorHour float64
	// Ratio is the unentered codes tolerated per code entered. 1 trips a cell
	// whose codes are entered less than half the time: real customers enter about
	// 70 % of theirs, pumped codes are never entered.
	Ratio float64
}

// Breakers are the conversion-aware SMS breakers: one cell per country calling
// code and one per number prefix (breakerPrefix), each counting sends and codes
// entered over sliding windows. Zero values take the defaults noted.
type Breakers struct {
	// Mode: enforce (the default), monitor or off.
	Mode BreakerMode
	// Country: a country's cell (floor 50 a day, 3 an hour, ratio 1).
	Country BreakerThreshold
	// Prefix: a number prefix's cell (floor 10 a day, 2 an hour, ratio 1): a
	// block of 10,000 numbers sees a code of a real customer now and then, never
	// a stream of them.
	Prefix BreakerThreshold
	// Cooldown is how long a tripped cell refuses before it is judged again (1 h).
	Cooldown time.Duration
	// Grace is how long a sent code counts as in flight rather than unentered
	// (3 min; at least 1 min).
	Grace time.Duration
	// SafeList are E.164 numbers and prefixes ("+4420794", "+14155550100") that no
	// breaker counts or refuses.
	SafeList []string
}

func (b *Breakers) setDefaults() {
	if b.Mode == breakerDefault {
		b.Mode = BreakerEnforce
	}
	def := func(t *BreakerThreshold, day, hour float64) {
		if t.FloorDay == 0 {
			t.FloorDay = day
		}
		if t.FloorHour == 0 {
			t.FloorHour = hour
		}
		if t.Ratio == 0 {
			t.Ratio = 1
		}
	}
	def(&b.Country, 50, 3)
	def(&b.Prefix, 10, 2)
	if b.Cooldown == 0 {
		b.Cooldown = time.Hour
	}
	if b.Grace == 0 {
		b.Grace = 3 * time.Minute
	}
}

func (b *Breakers) check() error {
	for _, t := range []BreakerThreshold{b.Country, b.Prefix} {
		if t.FloorDay < 1 || t.FloorHour < 1 || t.Ratio <= 0 {
			return errors.New("challenge: breaker floors must be at least 1 and ratios above 0")
		}
	}
	if b.Cooldown < time.Minute || b.Grace < time.Minute || b.Grace > time.Hour {
		return errors.New("challenge: want breaker Cooldown >= 1m and 1m <= Grace <= 1h")
	}
	for _, p := range b.SafeList {
		if len(p) < 2 || p[0] != '+' || strings.Trim(p[1:], "0123456789") != "" {
			return fmt.Errorf("challenge: breaker safe list: %q is not an E.164 number or prefix", p)
		}
	}
	return nil
}

// breakerTTL is how long a bucket of cells lives after its last write: the 14
// days of the rolling maximum of codes entered, and one more.
const breakerTTL = 15 * 24 * time.Hour

// Scopes of the breaker cells, as limits (LimitError.Scope, the audit trail's
// refusals, authsvc_send_limited_total).
const (
	ScopeBreakerCountry = "breaker_country"
	ScopeBreakerPrefix  = "breaker_prefix"
)

// breakerCell is a breaker cell as a limit carries it: its country (a metric
// label), its kind and masked name (the audit trail's).
type breakerCell struct {
	country string
	kind    string
	masked  string
}

// breakerPrefix is the prefix a number's cell is counted by: the number without
// its last 4 digits (a block of 10,000 numbers, the size in which ranges are
// assigned and pumped), or its last 3 when its national number has fewer than 8
// digits, so that a short numbering plan's prefix still names a block and not a
// handful of operators. It is "" for a number too short to have one.
func breakerPrefix(e164 string, cc int) string {
	nsn := len(e164) - 1 - len(strconv.Itoa(cc))
	drop := 4
	if nsn < 8 {
		drop = 3
	}
	if nsn-drop < 2 {
		return ""
	}
	return e164[:len(e164)-drop]
}

// maskPrefix shows a prefix's country code and the first two digits of its
// national number: "+4479******" for "+4479111234".
func maskPrefix(prefix string, cc int) string {
	keep := 1 + len(strconv.Itoa(cc)) + 2
	if len(prefix) <= keep {
		return prefix
	}
	return prefix[:keep] + strings.Repeat("*", len(prefix)-keep)
}

// breakerCellsOf are the breaker cells a send to dest counts in, nil when
// breakers do not apply: not a phone, breakers off, or a safe number.
func (s *Service) breakerCellsOf(dest contact) []limit {
	b := s.cfg.Breakers
	if dest.Kind != Phone || b.Mode == BreakerOff {
		return nil
	}
	for _, p := range b.SafeList {
		if strings.HasPrefix(dest.key, p) {
			return nil
		}
	}
	cc := callingCode(dest.key)
	if cc == 0 {
		return nil
	}
	country := strconv.Itoa(cc)
	out := []limit{s.breakerLimit(ScopeBreakerCountry, country, "+"+country)}
	if prefix := breakerPrefix(dest.key, cc); prefix != "" {
		l := s.breakerLimit(ScopeBreakerPrefix, country, prefix)
		l.cell.masked = maskPrefix(prefix, cc)
		out = append(out, l)
	}
	return out
}

// breakerLimit is the cell of kind (a scope) named name: a field of one of 4,096
// bucket hashes "v:{tag}:b", both from a keyed hash of the name, so that neither
// key nor field shows a number. The bucket's tag is one of the verification tags
// (identity.Tags): on Cluster its audit stream shares its slot, and the audit
// exporter reads it.
func (s *Service) breakerLimit(scope, country, name string) limit {
	h := s.keys.Name("breaker-cell", []byte(scope), []byte(name))
	field := base64.RawURLEncoding.EncodeToString(h[:9])
	return limit{scope: scope, key: breakerBucket(h), field: field,
		cell: &breakerCell{country: country, kind: strings.TrimPrefix(scope, "breaker_"), masked: name}}
}

// breakerBucket is the bucket of a cell whose keyed hash starts with h: 12 bits,
// spelled as a tag of identity.Tags.
func breakerBucket(h []byte) string {
	return "v:{" + lowerB32([]byte{h[0] & 0x7f, h[1] & 0xf8}, tagLen) + "}:b"
}

// breakerSettings is breaker.lua's ARGV[5] for a cell of scope.
func (s *Service) breakerSettings(scope string) string {
	b := s.cfg.Breakers
	t := b.Country
	if scope == ScopeBreakerPrefix {
		t = b.Prefix
	}
	mode := "enforce"
	if b.Mode == BreakerMonitor {
		mode = "monitor"
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
	return f(t.FloorDay) + "," + f(t.Ratio) + "," + f(t.FloorHour) + "," +
		strconv.FormatInt(b.Cooldown.Milliseconds(), 10) + "," + strconv.FormatInt(b.Grace.Milliseconds(), 10) + "," + mode
}

// breakerCall runs op ('s' send, 'u' undo, 'e' entered) on cell l.
func (s *Service) breakerCall(op string, l limit, nowMS, token string) scriptCall {
	return scriptCall{breakerScript, []string{l.key}, []any{op, nowMS, l.field, token,
		s.breakerSettings(l.scope), l.cell.kind, l.cell.masked, breakerTTL.Milliseconds()}}
}

// breakerCalls counts one send of the call with token in each cell.
func (s *Service) breakerCalls(cells []limit, nowMS, token string) []scriptCall {
	calls := make([]scriptCall, len(cells))
	for i, l := range cells {
		calls[i] = s.breakerCall("s", l, nowMS, token[:cellTokenLen])
	}
	return calls
}

// breakerOutcome reads breakerCalls' replies into the limits' outcome: a tripped
// cell refuses like a limit (scope breaker_*), a cell that counted the send joins
// added (so that a start that sends nothing takes it back), and trips, releases
// and monitored refusals are counted and logged, by country only.
func (s *Service) breakerOutcome(ctx context.Context, cells []limit, replies [][]any, denied *LimitError, added []limit) (*LimitError, []limit) {
	var blocked, monitored string
	for i, r := range replies {
		l := cells[i]
		if intAt(r, 2) == 1 {
			added = append(added, l)
		}
		switch ev, _ := replyString(r, 3); ev {
		case "tripped", "released":
			s.metrics.observeBreaker(ev, l.cell.country)
			s.log.WarnContext(ctx, "sms breaker "+ev, "country", l.cell.country, "cell", l.cell.kind,
				"mode", s.cfg.Breakers.Mode.String())
		}
		switch status(r) {
		case "blocked":
			blocked = l.cell.country
			wait := time.Duration(intAt(r, 1)) * time.Millisecond
			if denied == nil || wait > denied.RetryAfter || !strings.HasPrefix(denied.Scope, "breaker_") {
				denied = &LimitError{Scope: l.scope, RetryAfter: wait}
			}
		case "monitor":
			monitored = l.cell.country
		}
	}
	// Once a send, whichever of its cells held it.
	if blocked != "" {
		s.metrics.observeBreaker("refused", blocked)
	} else if monitored != "" {
		s.metrics.observeBreaker("monitored", monitored)
	}
	return denied, added
}

// breakerRecordField is the record's "bk": the country and the prefix cell's
// field, which a completion credits (creditEntered). Neither shows the number.
func breakerRecordField(cells []limit) string {
	var cc, prefix string
	for _, l := range cells {
		switch l.scope {
		case ScopeBreakerCountry:
			cc = l.cell.country
		case ScopeBreakerPrefix:
			prefix = l.field
		}
	}
	if cc == "" {
		return ""
	}
	return cc + ":" + prefix
}

// enteredCalls credit a code entered (or a link confirmed) to the cells named by
// a record's "bk", once per verification id.
func (s *Service) enteredCalls(bk, id string) []scriptCall {
	cc, prefix, ok := strings.Cut(bk, ":")
	if !ok || cc == "" || s.cfg.Breakers.Mode == BreakerOff {
		return nil
	}
	country := s.breakerLimit(ScopeBreakerCountry, cc, "+"+cc)
	cells := []limit{country}
	if h, err := base64.RawURLEncoding.DecodeString(prefix); err == nil && len(h) == 9 {
		cells = append(cells, limit{scope: ScopeBreakerPrefix, key: breakerBucket(h), field: prefix,
			cell: &breakerCell{country: cc, kind: "prefix"}})
	}
	now := ms(s.now())
	// One completion per verification: its id is the credit's token.
	token := "e" + idBody(id)[:cellTokenLen]
	calls := make([]scriptCall, len(cells))
	for i, l := range cells {
		calls[i] = s.breakerCall("e", l, now, token)
	}
	return calls
}

// creditEntered runs enteredCalls after a verified code: one round trip, only for
// a code that went by SMS (completing a method stays within its two). A failure
// only makes the breakers stricter, so it is logged, not returned.
func (s *Service) creditEntered(ctx context.Context, bk, id string) {
	calls := s.enteredCalls(bk, id)
	if len(calls) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refundTimeout)
	defer cancel()
	if _, err := s.store.pipelined(rctx, calls); err != nil {
		s.log.WarnContext(ctx, "crediting an entered code to the sms breakers failed", "verification_id", id, "err", err)
	}
}

//go:embed scripts/breaker.lua
var breakerSrc string

// breakerScript takes the audit stream like a transition (its trips and releases
// are audited) but no prelude: it knows no record.
var breakerScript = func() *redis.Script {
	sc := redis.NewScript(audit.Lua + breakerSrc)
	transitions[sc] = true
	return sc
}()
