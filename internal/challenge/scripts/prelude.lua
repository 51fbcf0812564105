-- Shared by every script (prepended in Go). Conventions:
--   KEYS[1] is the verification record (a hash); every key a script touches carries
--   the same hash tag, so each script runs on one slot on standalone, Sentinel and Cluster.
--   Times are Unix milliseconds from the service's clock, passed in ARGV: scripts never
--   read TIME, so expiry follows the stored expiry under an injected clock.
--   State codes: 1 pending, 2 verified, 3 failed, 4 expired, 5 canceled.
--   Publishing uses the command in PUBCMD (PUBLISH, or SPUBLISH on Cluster) on the
--   channel KEYS[1]..':w'; the payload is the new state, watchers re-read the record.
local PUBCMD = ARGV[1]
local NOW = tonumber(ARGV[2])

-- pseudonyms returns the audit pseudonyms of an identity ih and a customer ck under
-- the customer's own key 'pk' in its hash ckey (16 hex digits each), or two empty
-- strings once the key is gone: erasing the customer deletes the key (package
-- identity), and no event written after or before can be tied to anyone again.
local function pseudonyms(ckey, ih, ck)
  local pk = redis.call('HGET', ckey, 'pk')
  if not pk then
    return '', ''
  end
  return string.sub(redis.sha1hex(pk .. ih), 1, 16), string.sub(redis.sha1hex(pk .. ck), 1, 16)
end

-- Audit (package audit's audit_event is prepended before this prelude). Go passes the
-- audit stream as the last key and "A<retention ms>" as the last argument; every event
-- a script writes is also returned to Go (see the wrapper in store.go), which mirrors
-- it to the structured audit log. A known customer's events name the identity and the
-- customer by pseudonyms made with the customer's key (pseudonyms()); otherwise the
-- identity's keyed hash 'ih' names the identity.
local AKEY = KEYS[#KEYS]
local ARET = tonumber(string.match(ARGV[#ARGV] or '', '^A(%d+)$'))
local AUDITED = {}
-- AUDIT_WHO caches, per record, the client, pseudonyms and agent its events carry.
local AUDIT_WHO = {}
-- NARGV is the number of the script's own arguments (the audit marker excluded).
local NARGV = ARET and #ARGV - 1 or #ARGV
local METHOD_NAMES = {['1'] = 'magic_link', ['2'] = 'otp_sms', ['3'] = 'otp_email', ['4'] = 'totp', ['5'] = 'webauthn'}

-- packed_field returns the n-th of the fields Go packs into p0, p1, … (record.go:
-- packedFields, joined by \31); the agent is the 8th.
local AGENT_FIELD = 8
local function packed_field(rec, n)
  -- The first four chunks in one command (a record has two or three); any more
  -- one at a time.
  local parts = {}
  local first = redis.call('HMGET', rec, 'p0', 'p1', 'p2', 'p3')
  for i = 1, 4 do
    if not first[i] then
      break
    end
    parts[i] = first[i]
  end
  while #parts >= 4 do
    local chunk = redis.call('HGET', rec, 'p' .. #parts)
    if not chunk then
      break
    end
    parts[#parts + 1] = chunk
  end
  local k = 0
  for v in string.gmatch(table.concat(parts) .. '\031', '([^\031]*)\031') do
    k = k + 1
    if k == n then
      return v
    end
  end
  return ''
end

-- audit writes event kind about the verification rec, with extra field pairs; an
-- extra pair whose name is one of the fields read from the record (c, a, m, i, u)
-- replaces that field's value, any other is added.
local function audit(rec, kind, extra)
  if not ARET then
    return
  end
  -- What never changes in a record is read once per script run, however many
  -- events the run writes about it (a completion writes two).
  -- The method fields can change between two events of a run, and are read for
  -- each; the first event reads them with the rest.
  local who = AUDIT_WHO[rec]
  local dv, vm, em
  if not who then
    local cl, ck, ih
    cl, ck, ih, dv, vm, em = unpack(redis.call('HMGET', rec, 'cl', 'ck', 'ih', 'dv', 'vm', 'em'))
    who = {cl = cl or '', ip = ih or '', up = '', agent = packed_field(rec, AGENT_FIELD)}
    if ck then
      -- A known customer's pseudonyms are made with its own key (pseudonyms()); with
      -- the key erased, the events name no one.
      who.ip, who.up = pseudonyms(string.match(rec, '^(v:{[^}]*}:)') .. 'c:' .. ck, ih or '', ck)
    end
    AUDIT_WHO[rec] = who
  else
    dv, vm, em = unpack(redis.call('HMGET', rec, 'dv', 'vm', 'em'))
  end
  local m = METHOD_NAMES[vm or dv or string.sub(em or '', 1, 1)] or ''
  local f = {'k', kind, 'c', who.cl, 'a', who.agent or '', 'v', string.match(rec, '([^:]+)$'),
    'm', m, 'i', who.ip, 'u', who.up}
  local at = {c = 4, a = 6, m = 10, i = 12, u = 14}
  extra = extra or {}
  for i = 1, #extra, 2 do
    local j = at[extra[i]]
    if j then
      f[j] = extra[i + 1] or ''
    else
      f[#f + 1] = extra[i]
      f[#f + 1] = extra[i + 1] or ''
    end
  end
  local entry = {audit_event(AKEY, NOW, ARET, f)}
  for _, x in ipairs(f) do
    entry[#entry + 1] = x
  end
  AUDITED[#AUDITED + 1] = entry
end

-- audit_locked writes that an attempt of request field rf met a locked family, once:
-- the record keeps the last such request ('lq'), so a replay (go-redis resending a
-- script whose reply was lost) or a double-submitted form writes no second event.
local function audit_locked(rec, rf, extra)
  if redis.call('HGET', rec, 'lq') == rf then
    return
  end
  redis.call('HSET', rec, 'lq', rf)
  audit(rec, 'attempt_failed', extra)
end

local FAILURES = {['1'] = 'attempts_exhausted', ['3'] = 'number_mismatch'}

local function publish(key, state)
  redis.call(PUBCMD, key .. ':w', state)
end

-- expire_if_due ends a pending verification whose stored expiry has passed.
-- It returns true when the verification is (now) expired.
local function expire_if_due(key)
  local st, ex = unpack(redis.call('HMGET', key, 'st', 'ex'))
  if st == '1' and NOW >= tonumber(ex) then
    redis.call('HSET', key, 'st', '4')
    publish(key, '4')
    audit(key, 'expired')
    return true
  end
  return st == '4'
end

-- answered returns what a page action has answered already: {'gone'} when the
-- record is missing, or the recorded answer of a repeated request (field rf);
-- nil when the script has to decide.
local function answered(rec, rf)
  if redis.call('EXISTS', rec) == 0 then
    return {'gone'}
  end
  local seen = redis.call('HGET', rec, rf)
  if seen then
    return cjson.decode(seen)
  end
  return nil
end

-- finish moves a pending verification to a terminal state; extra (optional) adds
-- field pairs to its audit event (a report's 'r' = 'impersonation').
local function finish(key, state, reason, extra)
  redis.call('HSET', key, 'st', state, 'rs', reason or '0', 'ft', NOW)
  publish(key, state)
  if state == '2' then
    audit(key, 'verified', {'o', 'ok'})
    audit(key, 'assertion_issued')
  elseif state == '3' and reason == '2' then
    audit(key, 'reported', extra)
  elseif state == '3' then
    audit(key, 'failed', {'r', FAILURES[reason] or ''})
  elseif state == '4' then
    audit(key, 'expired')
  elseif state == '5' then
    audit(key, 'canceled', {'o', 'canceled'})
  end
end

-- revoke withdraws what a verified verification granted (the conversation ended).
local function revoke(key)
  if redis.call('HGET', key, 'rv') ~= '1' then
    redis.call('HSET', key, 'rv', '1')
    publish(key, '2')
    audit(key, 'canceled', {'o', 'revoked'})
  end
end

-- Identity counters live in one hash per tag (KEYS[2] where a script takes it).
-- Field names start with the identity's keyed hash IH (identities sharing a tag
-- never share counters), then a letter; M is a method family, CT a client's tag
-- among the identity's counters (client_tag):
--   IH k M CT  client CT's failures of M: "count,forgotten after (ms),locks,locked until (ms)"
--   IH t M     M's last failure, any client's   IH n M  shared locks so far
--   IH l M     M is locked for every client until (ms)
--   IH p M     the pace of the clients past their own limit: "locks,until (ms)"
--   IH s       the identity's recent sends: "<CT><time in base 36>", comma-separated
--   IH q       the identity's cell (GCRA, ms) of starts that send nothing; IH q CT the client's
--   IH c CONV  a conversation's verification, as versions before the conversation
--   pointers (conversation.go) wrote it: only pruned now
-- What one client does counts first against that client: its failures lock the
-- family for it alone, its sends and silent starts fill its own share. The shared
-- limits, which bind every client, are higher than any one client's share, and a
-- client's failures count toward the shared lock only up to its own limit, so no
-- client can reach them alone (docs/security.md, "Limits and locks per client").

-- client_tag is the tag of client cl among the counters of identity ih: 3 letters
-- (140,608 values) of a hash of both. Tags of two clients collide for one identity
-- in 140,608, not for every identity alike; a collision only makes the two share
-- their per-client counters for that identity.
local CT_LEN, CT_LETTERS = 3, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
local function client_tag(ih, cl)
  local n = tonumber(string.sub(redis.sha1hex((ih or '') .. '|' .. (cl or '')), 1, 8), 16)
  local t = ''
  for _ = 1, CT_LEN do
    local d = n % 52
    n = (n - d) / 52
    t = t .. string.sub(CT_LETTERS, d + 1, d + 1)
  end
  return t
end

-- record_tag is the tag of the verification rec's client among the counters: the
-- keyed tag the start stored ('kt', Service.clientTag), or, for a record made before
-- tags were keyed, client_tag of its identity and client.
local function record_tag(rec)
  local kt, ih, cl = unpack(redis.call('HMGET', rec, 'kt', 'ih', 'cl'))
  if kt and kt ~= '' then
    return kt
  end
  return client_tag(ih, cl)
end

-- counter_subject is whose counters a failure of family fam on verification rec
-- counts against: for an authenticator app ('4') or a passkey ('5') of a known
-- customer, the customer's ('ck', her hash: the secret guessed is hers, whatever
-- social identity the start named); otherwise the identity's (ih). A customer's
-- hash and an identity's are both IH_LEN characters, in one counters hash on the
-- record's tag.
local function counter_subject(ck, ih, fam)
  if (fam == '4' or fam == '5') and ck and ck ~= '' then
    return ck
  end
  return ih
end

-- numbers returns the k comma-separated numbers of v, zeros for those missing.
local function numbers(v, k)
  local out, i = {}, 0
  for x in string.gmatch(v or '', '[^,]+') do
    i = i + 1
    out[i] = tonumber(x) or 0
  end
  for j = i + 1, k do
    out[j] = 0
  end
  return unpack(out, 1, k)
end

local function keep(ikey, ttl)
  if redis.call('PTTL', ikey) < ttl then
    redis.call('PEXPIRE', ikey, ttl)
  end
end

local function lock_ms(n, base, most)
  return math.floor(math.min(base * 2 ^ (n - 1), most))
end

-- locked_for returns how long family fam is locked for client ct of identity ih
-- (ms, 0 when it is not): the client's own lock, the shared lock, and, for a client
-- past its own limit, the pace those clients share. A shared lock written before
-- locks were per client (IH l M) is the shared lock.
local function locked_for(ikey, ih, ct, fam)
  local mine, shared, pace = unpack(redis.call('HMGET', ikey, ih .. 'k' .. fam .. ct, ih .. 'l' .. fam, ih .. 'p' .. fam))
  local until_ms = tonumber(shared or '0') or 0
  local _, forget, locks, own = numbers(mine, 4)
  if NOW <= forget then
    until_ms = math.max(until_ms, own)
    if locks > 0 then
      local _, paced = numbers(pace, 2)
      until_ms = math.max(until_ms, paced)
    end
  end
  if NOW < until_ms then
    return until_ms - NOW
  end
  return 0
end

-- locked_for_record is locked_for the family fam of verification rec's client:
-- counted against counter_subject's subject. For an enrolled family of a known
-- customer, a lock the identity got before those counted against the customer still
-- holds until it ends.
local function locked_for_record(ikey, rec, ih, ct, fam)
  local ck = redis.call('HGET', rec, 'ck')
  local sj = counter_subject(ck, ih, fam)
  local wait = locked_for(ikey, sj, ct, fam)
  if sj ~= ih then
    wait = math.max(wait, locked_for(ikey, ih, ct, fam))
  end
  return wait, sj
end

-- counted sums, over the clients whose failures of family fam are still remembered,
-- each client's failures up to the per-client limit: what the shared limit counts.
-- It reads the whole hash, but only for a failure that counts (locks bound those).
local function counted(ikey, ih, fam, per)
  local prefix = ih .. 'k' .. fam
  local all = redis.call('HGETALL', ikey)
  local sum = 0
  for i = 1, #all, 2 do
    local f = all[i]
    if #f == #prefix + CT_LEN and string.sub(f, 1, #prefix) == prefix then
      local n, forget = numbers(all[i + 1], 2)
      if NOW <= forget then
        sum = sum + math.min(n, per)
      end
    end
  end
  return sum
end

-- fail counts one failure of family fam by client ct. limits is "per client,shared"
-- (the shared limit is the higher). Failures older than the window are forgotten.
--   From the per-client limit on, every failure of the client locks the family for
--   that client, for a delay that doubles with each lock up to most.
--   Up to that limit, the failure also counts toward the shared limit (the sum of
--   every client's failures, each capped at the per-client limit): from the shared
--   limit on, every such failure locks the family for every client, doubling too.
--   Past its own limit, a client's failures count toward no shared lock, but the
--   clients past theirs share one pace (IH p M), doubling too: however many clients
--   a guesser spreads over, past their limits they get one try per pace together.
-- It returns the longest lock the failure set (ms), or 0.
local function fail(ikey, ih, ct, fam, limits, base, most, window)
  local per, shared = numbers(limits, 2)
  local field = ih .. 'k' .. fam .. ct
  local f, forget, n, l = numbers(redis.call('HGET', ikey, field), 4)
  if NOW > forget then
    f, n, l = 0, 0, 0
  end
  f = f + 1
  local lock = 0
  if f >= per then
    n = n + 1
    lock = lock_ms(n, base, most)
    l = NOW + lock
  end
  redis.call('HSET', ikey, field, f .. ',' .. (NOW + window) .. ',' .. n .. ',' .. l)
  -- The shared locks start again once no client failed for a window (IH f M is a
  -- shared count written before counts were per client).
  local last = tonumber(redis.call('HGET', ikey, ih .. 't' .. fam) or '0')
  if NOW - last > window then
    redis.call('HDEL', ikey, ih .. 'f' .. fam, ih .. 'n' .. fam, ih .. 'l' .. fam, ih .. 'p' .. fam)
  end
  redis.call('HSET', ikey, ih .. 't' .. fam, NOW)
  if f <= per then
    if counted(ikey, ih, fam, per) >= shared then
      local sl = lock_ms(redis.call('HINCRBY', ikey, ih .. 'n' .. fam, 1), base, most)
      redis.call('HSET', ikey, ih .. 'l' .. fam, NOW + sl)
      lock = math.max(lock, sl)
    end
  else
    local pn = numbers(redis.call('HGET', ikey, ih .. 'p' .. fam), 1) + 1
    local pl = lock_ms(pn, base, most)
    redis.call('HSET', ikey, ih .. 'p' .. fam, pn .. ',' .. (NOW + pl))
    lock = math.max(lock, pl)
  end
  keep(ikey, window)
  return lock
end

-- succeed forgets client ct's failures of family fam: a success clears only its own
-- family, and only for its own client (another client's failures are not the
-- customer's to clear). The shared locks so far stay until their window ends.
local function succeed(ikey, ih, ct, fam)
  redis.call('HDEL', ikey, ih .. 'k' .. fam .. ct, ih .. 'f' .. fam)
end

-- base36 writes a time (ms) in base 36: 8 characters until 2059.
local B36 = '0123456789abcdefghijklmnopqrstuvwxyz'
local function base36(n)
  local s = ''
  repeat
    local d = n % 36
    s = string.sub(B36, d + 1, d + 1) .. s
    n = (n - d) / 36
  until n == 0
  return s
end

-- sends reads a send log: its entries inside the window, oldest first, each
-- {time, client tag, entry}. An entry written before sends had a client (digits
-- only) has the tag '' and counts toward the shared limit alone.
local function sends(log, window)
  local out = {}
  for e in string.gmatch(log or '', '[^,]+') do
    local ct, t = '', tonumber(e)
    if not string.find(e, '^%d+$') then
      ct, t = string.sub(e, 1, CT_LEN), tonumber(string.sub(e, CT_LEN + 1), 36)
    end
    if t and NOW - t < window then
      out[#out + 1] = {t, ct, e}
    end
  end
  table.sort(out, function(a, b) return a[1] < b[1] end)
  return out
end

-- take_send records a send by client ct in the identity's sliding window unless the
-- client has made per sends in it, or all clients together shared (more than per, so
-- no client fills the window alone); it returns 0, or the milliseconds until a send
-- would be allowed. The log holds at most shared entries: 12 bytes each.
local function take_send(ikey, ih, ct, per, shared, window)
  local log = sends(redis.call('HGET', ikey, ih .. 's'), window)
  local mine, kept = {}, {}
  for i, x in ipairs(log) do
    kept[i] = x[3]
    if x[2] == ct then
      mine[#mine + 1] = x[1]
    end
  end
  local wait = 0
  if #mine >= per then
    wait = mine[#mine - per + 1] + window - NOW
  end
  if #log >= shared then
    wait = math.max(wait, log[#log - shared + 1][1] + window - NOW)
  end
  if wait > 0 then
    return wait
  end
  kept[#kept + 1] = ct .. base36(NOW)
  redis.call('HSET', ikey, ih .. 's', table.concat(kept, ','))
  keep(ikey, window)
  return 0
end

-- unsend takes client ct's send at time t (ms) back out of the identity's log.
local function unsend(ikey, ih, ct, t)
  local f = ih .. 's'
  local log = redis.call('HGET', ikey, f)
  if not log then
    return
  end
  local kept, dropped, want = {}, false, ct .. base36(t)
  for e in string.gmatch(log, '[^,]+') do
    if e == want and not dropped then
      dropped = true
    else
      kept[#kept + 1] = e
    end
  end
  if #kept == 0 then
    redis.call('HDEL', ikey, f)
  else
    redis.call('HSET', ikey, f, table.concat(kept, ','))
  end
end

-- take_start counts a start that sends nothing (TOTP or passkey only) by client ct
-- in two cells, the client's (per starts per window) and the identity's (shared,
-- more than per): each a generic cell rate as limit.lua's, one number whatever the
-- traffic. It returns 0, or the milliseconds until a start would be allowed.
local function take_start(ikey, ih, ct, per, shared, window)
  local mine, all = unpack(redis.call('HMGET', ikey, ih .. 'q' .. ct, ih .. 'q'))
  local m = math.max(tonumber(mine or '0') or 0, NOW) + window / per
  local a = math.max(tonumber(all or '0') or 0, NOW) + window / shared
  local wait = math.max(m, a) - window - NOW
  if wait > 0 then
    return math.ceil(wait)
  end
  redis.call('HSET', ikey, ih .. 'q' .. ct, string.format('%.0f', m), ih .. 'q', string.format('%.0f', a))
  keep(ikey, window)
  return 0
end

-- The counters hash is shared by every identity whose verifications carry its tag
-- (a tag is 14 bits: about six identities each at 100,000 pending), so it outlives
-- any one identity's need for it and a field nobody will read again has to go:
-- prune_identities drops every field that can no longer decide anything: a send log
-- whose newest send is out of the send window, a start cell that has drained, a
-- conversation pointer whose verification is gone, a client's failures that are
-- forgotten and whose lock has ended, and a family's shared counters whose last
-- failure is out of the failure window and whose lock has ended. It reads the whole
-- hash, so it runs only once the hash holds more than PRUNE_AT fields, and at most
-- once per PRUNE_EVERY ms per hash (field '#' holds when it last ran): on every
-- start it cost a third of the start rate at 24 fields per hash. A stale field stays
-- until the tag's next start a minute or more after the last prune. Identity hashes
-- IH are IH_LEN characters.
local IH_LEN, PRUNE_AT, PRUNE_EVERY = 12, 8, 60000
local function prune_identities(ikey, prefix, send_window, fail_window)
  if redis.call('HLEN', ikey) <= PRUNE_AT then
    return
  end
  local last = tonumber(redis.call('HGET', ikey, '#') or '0')
  if NOW >= last and NOW - last < PRUNE_EVERY then
    return
  end
  redis.call('HSET', ikey, '#', NOW)
  local all = redis.call('HGETALL', ikey)
  local gone, families = {}, {}
  for i = 1, #all, 2 do
    local f, v = all[i], all[i + 1]
    local kind = string.sub(f, IH_LEN + 1, IH_LEN + 1)
    if kind == 's' then
      if #sends(v, send_window) == 0 then
        gone[#gone + 1] = f
      end
    elseif kind == 'q' then
      if (tonumber(v) or 0) <= NOW then
        gone[#gone + 1] = f
      end
    elseif kind == 'k' then
      local _, forget, _, l = numbers(v, 4)
      if NOW > forget and NOW >= l then
        gone[#gone + 1] = f
      end
    elseif kind == 'c' then
      if redis.call('EXISTS', prefix .. v) == 0 then
        gone[#gone + 1] = f
      end
    elseif kind == 't' or kind == 'l' then
      local fam = string.sub(f, 1, IH_LEN) .. string.sub(f, IH_LEN + 2)
      families[fam] = families[fam] or {}
      families[fam][kind] = tonumber(v)
    end
  end
  for fam, c in pairs(families) do
    if NOW - (c.t or 0) > fail_window and NOW >= (c.l or 0) then
      local ih, m = string.sub(fam, 1, IH_LEN), string.sub(fam, IH_LEN + 1)
      for _, k in ipairs({'f', 't', 'n', 'l', 'p'}) do
        gone[#gone + 1] = ih .. k .. m
      end
    end
  end
  if #gone > 0 then
    redis.call('HDEL', ikey, unpack(gone))
  end
end

-- verified ends a pending verification as VERIFIED by method m at level lv, with the
-- flags vx (passkeys: 'u' user verified, 'b' backup eligible), keeping the record
-- until its assertion can no longer be used (ttl ms). bb is the keyed hash of the
-- browser that completed it (package web's binding: whatever continues the verified
-- session, such as enrolling a factor, must come from that browser), fid the factor
-- it was completed with ('' for a code or link): its assertion stands only while the
-- customer still holds that factor (stands()).
local function verified(rec, m, lv, vx, ttl, bb, fid)
  redis.call('HSET', rec, 'vt', NOW, 'vm', m, 'lv', lv, 'co', '')
  if vx ~= '' then
    redis.call('HSET', rec, 'vx', vx)
  end
  if bb and bb ~= '' then
    redis.call('HSET', rec, 'bb', bb)
  end
  if fid and fid ~= '' then
    redis.call('HSET', rec, 'vf', fid)
  end
  finish(rec, '2')
  if redis.call('PTTL', rec) < ttl then
    redis.call('PEXPIRE', rec, ttl)
  end
end

-- customer_key is the customer hash of the record rec: "<rec's key prefix>c:<ck>",
-- on the record's own slot (a verification of a known customer lives under the
-- customer's tag), or nil for a record of no known customer.
local function customer_key(rec)
  local ck = redis.call('HGET', rec, 'ck')
  if not ck or ck == '' then
    return nil
  end
  return string.match(rec, '^(v:{[^}]*}:)') .. 'c:' .. ck
end

-- link_stands tells whether the verification rec may still be completed as its
-- customer's when the customer came through the identity's link, not from the
-- platform: a start that named none records the linked customer ('lc', on the
-- identity's slot, beside the link pointer "k:<ih>"), and a start that found the
-- customer through the link to offer her factors marks it ('ln', on the customer's
-- slot, beside her hash and its L<ih> entry). Once the identity is unlinked (or the
-- customer erased, or the link made again by another client: 'lb'), such a
-- verification can never mint an assertion for her, and
-- what it granted stops standing. ckey is the customer hash (customer_key(rec) when
-- nil).
local function link_stands(rec, ckey)
  ckey = ckey or customer_key(rec)
  local lc, ln, ih, lb = unpack(redis.call('HMGET', rec, 'lc', 'ln', 'ih', 'lb'))
  if lc and lc ~= '' then
    -- The pointer is "<customer id>\31<client>", the customer alone when made before
    -- links recorded their client: the link the start trusted, by the same client.
    local want = lc
    if lb and lb ~= '' then
      want = lc .. '\031' .. lb
    end
    return redis.call('GET', string.match(rec, '^(v:{[^}]*}:)') .. 'k:' .. (ih or '')) == want
  end
  if ln == '1' then
    return ckey ~= nil and redis.call('HEXISTS', ckey, 'L' .. (ih or '')) == 1
  end
  return true
end

-- stands tells whether what the verification rec granted is still in force: it is
-- VERIFIED, not revoked, its customer still holds the link it came through (when it
-- came through one: link_stands), and, when a factor completed it, the customer still holds
-- that factor (removing or reporting a factor revokes every assertion minted on it).
-- A missing record does not stand (records outlive their assertions).
local function stands(rec)
  local st, rv, vf = unpack(redis.call('HMGET', rec, 'st', 'rv', 'vf'))
  if st ~= '2' or rv == '1' or not link_stands(rec, nil) then
    return false
  end
  if vf and vf ~= '' then
    local ckey = customer_key(rec)
    return ckey ~= nil and redis.call('HEXISTS', ckey, 'F' .. vf) == 1
  end
  return true
end

-- factor_fields reads a factor's F value (package identity's Factor.Encode):
-- "<kind>|<created ms>|<client>|<label>|<payload>", or, stored before factors
-- recorded their client, "<kind>|<created ms>|<label>|<payload>" (client ''). It
-- returns kind, created (a number) and the client the factor was enrolled through,
-- or nil for a value of another shape (a factor not yet in force).
local function factor_fields(v)
  local kind, created, rest = string.match(v, '^(%d)|(%d+)|(.*)$')
  if not kind then
    return nil
  end
  local client = string.match(rest, '^([^|]*)|[^|]*|') or ''
  return kind, tonumber(created), client
end

-- trusts tells whether a verification may be completed with a factor enrolled through
-- client: TRUST is '*' (every client's) or '|a|b|', the verifying client and the
-- clients whose enrollments it trusts (Go builds it from the clients file).
local function trusts(trust, client)
  return trust == '*' or (client ~= '' and string.find(trust, '|' .. client .. '|', 1, true) ~= nil)
end

-- created_at is when the verification rec was created (ms): its expiry less its
-- lifetime, the 12th packed field (record.go), less what extend.lua added ('xd').
local TT_FIELD = 12
local function created_at(rec)
  local ex, xd = unpack(redis.call('HMGET', rec, 'ex', 'xd'))
  return tonumber(ex) - (tonumber(packed_field(rec, TT_FIELD)) or 0) - (tonumber(xd or '0') or 0)
end

-- factor_ok tells whether the customer hash ckey still holds factor fid of kind,
-- enrolled before the verification rec was created through a client the verifying
-- client trusts (trust, see trusts()): a factor enrolled during a verification can
-- never complete it, a removed one stops working at once, and a less trusted client's
-- enrollment cannot mint assurance for another client.
local function factor_ok(ckey, fid, kind, rec, trust)
  if fid == '' then
    return false
  end
  local v = redis.call('HGET', ckey, 'F' .. fid)
  if not v then
    return false
  end
  local k, created, client = factor_fields(v)
  return k == kind and created < created_at(rec) and trusts(trust, client)
end

-- offers tells whether the verification offers method m.
local function offers(rec, m)
  local em = redis.call('HGET', rec, 'em') or ''
  return string.find(em, m, 1, true) ~= nil
end

-- wrong counts one failed attempt of family fam on the verification and for the
-- identity's client ct (the limits 'per client,shared', first lock, longest lock and
-- window are ARGV[a..a+3], the wrong attempts that fail a verification ARGV[a+4]).
local function wrong(rec, ikey, ih, ct, fam, a, why)
  local at = redis.call('HINCRBY', rec, 'at', 1)
  audit(rec, 'attempt_failed', {'m', METHOD_NAMES[fam], 'o', 'wrong', 'r', why or ''})
  local mx = tonumber(ARGV[a + 4])
  local lock = fail(ikey, ih, ct, fam, ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]))
  if at >= mx then
    finish(rec, '3', '1')
    return {'failed'}
  end
  publish(rec, '1')
  if lock > 0 then
    return {'locked', lock}
  end
  return {'wrong', mx - at}
end
