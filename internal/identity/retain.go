package identity

import (
	"context"
	_ "embed"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Aligned retention. A customer's hash restarts its TTL, the retention, on every
// change to its links and factors; two kinds of keys belong to the customer but live
// under other hash tags, so on Cluster on other slots, where no script on the
// customer's slot can reach them: the link pointer of each linked identity
// (LinkKey) and the credential index entry of each passkey (CredentialKey). Each
// must live at least as long as the hash, or a listed link stops resolving and a
// stored passkey loses the entry that keeps its credential id from serving another
// customer.
//
// So every script that restarts the hash's TTL does it through retain
// (scripts/retain.lua), which also returns what names those keys (the hash's L<ih>
// entries, its passkeys' F<fid> values and its 'cu'), and Store.run then extends each
// of them (extend), in one pipeline, to at least the same retention. Being later,
// each key's new expiry is at or after the hash's. Link, which restarts the hash
// twice, extends once, after its last step, and leaves out the pointer it has just
// set with the retention itself: that one trails the hash by one round trip.

var (
	//go:embed scripts/retain.lua
	retainPrelude string
	//go:embed scripts/extend.lua
	extendSrc string
)

var extendScript = redis.NewScript(extendSrc)

// extendTimeout bounds the pipeline that extends a customer's keys on other slots.
// It runs even when the request's context has ended: the change it follows is made.
const extendTimeout = 5 * time.Second

// retaining composes a script that restarts a customer's retention but writes no
// audit event: the retention helper, then the script's body run as a function, so
// that it answers {reply, {}, retained} like an audited script (see audited).
func retaining(src string) *redis.Script {
	sc := redis.NewScript(retainPrelude + "\nlocal function body()\n" + src + `
end
local reply = body()
return {reply, {}, RETAINED}
`)
	wrappedScripts[sc] = true
	return sc
}

// wrappedScripts are the scripts audited or retaining composed: they answer
// {reply, events, retained} (see Store.unwrap).
var wrappedScripts = map[*redis.Script]bool{}

// outlying is a key that lives with a customer on another slot, and the value it
// holds while it is the customer's.
type outlying struct{ key, owner string }

// outlyingKeys names, from what retain returned ({customer key, ms, cu, field,
// value, …}), the customer's keys on other slots, but except, and the retention to
// give them.
// An entry that does not parse is skipped: only the store writes them, and Erase
// logs the same.
func (s *Store) outlyingKeys(retained []any, except string) ([]outlying, int64) {
	ckey, cu := strAt(retained, 0), strAt(retained, 2)
	retention, err := strconv.ParseInt(strAt(retained, 1), 10, 64)
	ctag, ch, ok := parseCustomerKey(ckey)
	if err != nil || !ok || cu == "" {
		return nil, 0
	}
	var out []outlying
	for i := 3; i+1 < len(retained); i += 2 {
		field, value := strAt(retained, i), strAt(retained, i+1)
		switch {
		case strings.HasPrefix(field, "L"):
			l, err := parseLinked(value)
			if err != nil {
				continue
			}
			if key := LinkKey(IdentityTag(s.keys, l.Network, l.UserID), field[1:]); key != except {
				out = append(out, outlying{key, cu})
			}
		case strings.HasPrefix(field, "F"):
			f, err := parseFactor(field[1:], value)
			if err != nil || f.Passkey == nil {
				continue
			}
			out = append(out, outlying{CredentialKey(s.keys, f.Passkey.CredentialID), ctag + ":" + ch + ":" + f.ID})
		}
	}
	return out, retention
}

// parseCustomerKey splits a CustomerKey "v:{ctag}:c:<ch>" into its tag and hash.
func parseCustomerKey(key string) (ctag, ch string, ok bool) {
	rest, ok := strings.CutPrefix(key, "v:{")
	if !ok {
		return "", "", false
	}
	ctag, ch, ok = strings.Cut(rest, "}:c:")
	return ctag, ch, ok && len(ctag) == TagLen && ch != ""
}

// extend gives the customer's keys on other slots at least the retention the
// customer hash was just given (retained is what retain returned): one extend script
// per key, each on the key's own slot, in one pipeline (on Cluster, one per node, in
// parallel). A key that no longer holds the customer's value (unlinked, released,
// taken since) is left alone. A failure is logged, not returned: the change it
// follows is made, and the keys keep their previous expiry, which covered the hash's
// previous one; the customer's next change extends them again. except, when not
// "", names a key not to extend: the link pointer Link has just set itself.
func (s *Store) extend(ctx context.Context, retained []any, except string) {
	keys, retention := s.outlyingKeys(retained, except)
	if len(keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), extendTimeout)
	defer cancel()
	cmds := make([]*redis.Cmd, len(keys))
	exec := func(full bool) error {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				if full {
					cmds[i] = extendScript.Eval(ctx, p, []string{k.key}, k.owner, retention)
				} else {
					cmds[i] = extendScript.EvalSha(ctx, p, []string{k.key}, k.owner, retention)
				}
			}
			return nil
		})
		return err
	}
	err := exec(false)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// A server that lost its script cache (a restart, a failover): send it in full.
		err = exec(true)
	}
	if err != nil {
		s.log.WarnContext(ctx, "customer retention: link pointers and credential index entries not extended; "+
			"they keep their previous expiry until the customer's next change", "keys", len(keys), "error", err)
	}
}
