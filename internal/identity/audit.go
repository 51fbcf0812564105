package identity

import (
	"context"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/authsvc/authsvc/internal/audit"
)

//go:embed scripts/audit.lua
var auditPrelude string

// audited composes a script that writes audit events: package audit's append
// function, this package's audit helpers (scripts/audit.lua), the retention helper
// (scripts/retain.lua), the enrollment prelude when the script needs it, then the
// script's own body run as a function, so that its reply, the events it wrote and
// what it retained come back together as {reply, {event, …}, retained} (each event
// {id, field, value, …}; retained as retain leaves it, or false) and Store.run can
// mirror the events to the audit log and extend what the customer's retention
// covers. Store.run adds the stream as the last key and "A<retention ms>" as the
// last argument.
func audited(src string, withPrelude bool) *redis.Script {
	p := ""
	if withPrelude {
		p = prelude
	}
	sc := redis.NewScript(audit.Lua + auditPrelude + retainPrelude + p + "\nlocal function body()\n" + src + `
end
local reply = body()
return {reply, AUDITED, RETAINED}
`)
	auditedScripts[sc] = true
	wrappedScripts[sc] = true
	return sc
}

// auditedScripts are the scripts audited composed: they take the audit stream.
var auditedScripts = map[*redis.Script]bool{}

// withAudit adds the audit stream and retention to an audited script's keys and
// arguments: the stream on the slot of the script's first key (on Cluster, that
// key's tag's own stream).
func (s *Store) withAudit(sc *redis.Script, keys []string, args []any) ([]string, []any) {
	if !auditedScripts[sc] || len(keys) == 0 {
		return keys, args
	}
	tag := keys[0]
	if i, j := strings.IndexByte(tag, '{'), strings.IndexByte(tag, '}'); i >= 0 && j > i {
		tag = tag[i+1 : j]
	}
	keys = append(slices.Clip(keys), audit.StreamKey(tag, s.cfg.AuditPerTag))
	args = append(slices.Clip(args), "A"+strconv.FormatInt(s.cfg.AuditRetention.Milliseconds(), 10))
	return keys, args
}

// unwrap takes a composed script's {reply, events, retained} apart (see audited and
// retaining): it mirrors the events to the audit log and returns the reply (nil for
// a script that answered false) and what the script retained (nil when it did not
// restart a customer's retention), for Store.extend.
func (s *Store) unwrap(ctx context.Context, res any) (any, []any, error) {
	l, ok := res.([]any)
	if !ok || len(l) != 3 {
		return nil, nil, fmt.Errorf("%w: unexpected composed script reply %T", ErrUnavailable, res)
	}
	if events, ok := l[1].([]any); ok && s.auditLog != nil {
		for _, e := range events {
			if fields, ok := e.([]any); ok && len(fields) > 0 {
				s.auditLog.Record(ctx, audit.EventFromReply(fields))
			}
		}
	}
	retained, _ := l[2].([]any)
	return l[0], retained, nil
}

// freshPseudonymKey draws a pseudonym key (32 random bytes, 64 hex digits) for a
// script to store in a customer hash that has none yet: the same form as the one
// package challenge's start script creates.
func (s *Store) freshPseudonymKey() (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(s.random, b); err != nil {
		return "", fmt.Errorf("%w: draw pseudonym key: %w", ErrUnavailable, err)
	}
	return hex.EncodeToString(b), nil
}
