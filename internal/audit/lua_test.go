package audit_test

import (
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/audit"
)

// eventScript calls audit_event the way a state-change script does: the time as a number, a nil
// and an empty value among the fields. KEYS[1] the stream; ARGV: now, retention, kind, client, method.
var eventScript = redis.NewScript(audit.Lua + `
local NOW = tonumber(ARGV[1])
return audit_event(KEYS[1], NOW, ARGV[2], {'k', ARGV[3], 'c', ARGV[4], 'a', nil, 'v', '', 'm', ARGV[5]})
`)

const retention = 24 * time.Hour

func appendAt(ctx context.Context, t *testing.T, rdb redis.UniversalClient, key string, at time.Time, kind string) string {
	t.Helper()
	id, err := eventScript.Run(ctx, rdb, []string{key},
		at.UnixMilli(), retention.Milliseconds(), kind, "crm", "otp_sms").Text()
	if err != nil {
		t.Fatalf("audit_event at %v: %v", at, err)
	}
	return id
}

func TestAuditEvent(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			rdb := b.rdb

			t.Run("fields", func(t *testing.T) {
				id := appendAt(ctx, t, rdb, "s:fields", t0, audit.Started)
				msgs, err := rdb.XRange(ctx, "s:fields", "-", "+").Result()
				if err != nil || len(msgs) != 1 {
					t.Fatalf("XRANGE = %v, %v; want one entry", msgs, err)
				}
				if msgs[0].ID != id {
					t.Errorf("id %q, script returned %q", msgs[0].ID, id)
				}
				want := map[string]any{"k": "started", "c": "crm", "m": "otp_sms"}
				if !equalValues(msgs[0].Values, want) {
					t.Errorf("entry %v, want %v (nil and empty values skipped; no t: the id's time is the event's)", msgs[0].Values, want)
				}
			})

			t.Run("monotonic ids", func(t *testing.T) {
				const key = "s:mono"
				ids := []string{
					appendAt(ctx, t, rdb, key, t0, audit.Sent),
					appendAt(ctx, t, rdb, key, t0.Add(-time.Second), audit.Sent), // a replica behind
					appendAt(ctx, t, rdb, key, t0.Add(-time.Hour), audit.Sent),
					appendAt(ctx, t, rdb, key, t0.Add(time.Millisecond), audit.Sent),
				}
				ms := strconv.FormatInt(t0.UnixMilli(), 10)
				want := []string{ms + "-0", ms + "-1", ms + "-2", strconv.FormatInt(t0.UnixMilli()+1, 10) + "-0"}
				for i := range want {
					if ids[i] != want[i] {
						t.Fatalf("ids %v, want %v", ids, want)
					}
				}
				// 't' keeps a lagging writer's own time, and only then.
				msgs, _ := rdb.XRange(ctx, key, "-", "+").Result()
				if got, want := msgs[1].Values["t"], strconv.FormatInt(t0.Add(-time.Second).UnixMilli(), 10); got != want {
					t.Errorf("t of the lagging entry = %v, want %v", got, want)
				}
				if got, ok := msgs[0].Values["t"]; ok {
					t.Errorf("t = %v on an entry whose id carries its time", got)
				}
			})

			t.Run("trimmed by age", func(t *testing.T) {
				const key = "s:trim"
				appendAt(ctx, t, rdb, key, t0, audit.Started)
				appendAt(ctx, t, rdb, key, t0, audit.Sent)
				kept := appendAt(ctx, t, rdb, key, t0.Add(time.Hour), audit.Verified)
				last := appendAt(ctx, t, rdb, key, t0.Add(retention+time.Hour), audit.Expired)
				msgs, err := rdb.XRange(ctx, key, "-", "+").Result()
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, m := range msgs {
					got = append(got, m.ID)
				}
				if strings.Join(got, " ") != kept+" "+last {
					t.Errorf("after retention, ids %v; want [%s %s]", got, kept, last)
				}
				// The entry whose append trimmed them records how many went unexported.
				if x := msgs[len(msgs)-1].Values["x"]; x != "2" {
					t.Errorf("x = %v on the trimming entry, want 2", x)
				}
				if x, ok := msgs[0].Values["x"]; ok {
					t.Errorf("x = %v on an entry that trimmed nothing", x)
				}
				if e, _ := audit.ParseEntry(msgs[len(msgs)-1]); e.Trimmed != 2 {
					t.Errorf("ParseEntry: Trimmed = %d, want 2", e.Trimmed)
				}
			})

			t.Run("ttl", func(t *testing.T) {
				const key = "s:ttl"
				appendAt(ctx, t, rdb, key, t0, audit.Started)
				ttl, err := rdb.PTTL(ctx, key).Result()
				if err != nil || ttl <= retention-time.Minute || ttl > retention {
					t.Fatalf("PTTL = %v, %v; want about %v", ttl, err, retention)
				}
				// A longer TTL is never lowered.
				rdb.PExpire(ctx, key, 2*retention)
				appendAt(ctx, t, rdb, key, t0, audit.Sent)
				if ttl, _ := rdb.PTTL(ctx, key).Result(); ttl <= retention {
					t.Errorf("PTTL after append = %v, want the longer one kept", ttl)
				}
			})
		})
	}
}

// equalValues compares a stream entry with the wanted fields.
func equalValues(got map[string]any, want map[string]any) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// TestLuaComposes checks that audit.Lua can be prepended to the scripts' preludes: it defines
// only audit_event, which no prelude redefines (the challenge prelude calls it), and the
// composition runs.
func TestLuaComposes(t *testing.T) {
	t.Parallel()
	if n := len(regexp.MustCompile(`(?m)^local `).FindAllString(audit.Lua, -1)); n != 1 {
		t.Errorf("audit.Lua has %d top-level locals, want 1 (audit_event)", n)
	}
	rdb := backends(t)[0].rdb
	for _, p := range []string{"../challenge/scripts/prelude.lua", "../identity/scripts/prelude.lua"} {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Logf("%s: %v (skipped)", p, err)
			continue
		}
		if regexp.MustCompile(`local\s+function\s+audit_event\b|local\s+audit_event\b`).Match(src) {
			t.Errorf("%s redefines audit_event; audit.Lua defines it", p)
		}
		sc := redis.NewScript(audit.Lua + string(src) + "\nreturn audit_event(KEYS[1], ARGV[2], ARGV[3], {'k', 'started'})")
		// ARGV[1] (PUBCMD or NOW) is harmless here.
		if err := sc.Run(context.Background(), rdb, []string{"s:compose"}, "1", "1000", "60000").Err(); err != nil {
			t.Errorf("audit.Lua + %s: %v", p, err)
		}
	}
}

func TestPseudonym(t *testing.T) {
	t.Parallel()
	// A known vector: with an empty key, the pseudonym is the start of SHA-1("abc").
	if got := audit.Pseudonym("", "abc"); got != "a9993e364706816a" {
		t.Errorf("Pseudonym(\"\", \"abc\") = %s", got)
	}
	lua := redis.NewScript(`return string.sub(redis.sha1hex(ARGV[1] .. ARGV[2]), 1, 16)`)
	key := strings.Repeat("0f1e2d3c4b5a6978", 4)
	subjects := []string{"", "42", "x:1234567890", "@alice", "\x00\xff\xfe\x80binary\r\n", strings.Repeat("é", 100)}
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			for _, s := range subjects {
				for _, k := range []string{key, ""} {
					want := audit.Pseudonym(k, s)
					got, err := lua.Run(context.Background(), b.rdb, nil, k, s).Text()
					if err != nil {
						t.Fatal(err)
					}
					if got != want || len(got) != 16 {
						t.Errorf("subject %q: Lua %q, Go %q", s, got, want)
					}
				}
			}
		})
	}
}

func TestStreamKey(t *testing.T) {
	t.Parallel()
	if got := audit.StreamKey("ab12", false); got != "audit:events" {
		t.Errorf("standalone: %q", got)
	}
	if got := audit.StreamKey("ab12", true); got != "v:{ab12}:a" {
		t.Errorf("cluster: %q", got)
	}
}

func TestKinds(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, k := range audit.Kinds {
		if seen[k] || !regexp.MustCompile(`^[a-z_]+$`).MatchString(k) {
			t.Errorf("kind %q repeated or malformed", k)
		}
		seen[k] = true
	}
	if len(seen) != 27 {
		t.Errorf("%d kinds, want 27", len(seen))
	}
}
