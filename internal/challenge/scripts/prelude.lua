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
  local parts, i = {}, 0
  while true do
    local chunk = redis.call('HGET', rec, 'p' .. i)
    if not chunk then
      break
    end
    parts[#parts + 1] = chunk
    i = i + 1
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
  local who = AUDIT_WHO[rec]
  if not who then
    local cl, ck, ih = unpack(redis.call('HMGET', rec, 'cl', 'ck', 'ih'))
    who = {cl = cl or '', ip = ih or '', up = '', agent = packed_field(rec, AGENT_FIELD)}
    if ck then
      -- A known customer's pseudonyms are made with its own key (pseudonyms()); with
      -- the key erased, the events name no one.
      who.ip, who.up = pseudonyms(string.match(rec, '^(v:{[^}]*}:)') .. 'c:' .. ck, ih or '', ck)
    end
    AUDIT_WHO[rec] = who
  end
  local dv, vm, em = unpack(redis.call('HMGET', rec, 'dv', 'vm', 'em'))
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

-- finish moves a pending verification to a terminal state.
local function finish(key, state, reason)
  redis.call('HSET', key, 'st', state, 'rs', reason or '0', 'ft', NOW)
  publish(key, state)
  if state == '2' then
    audit(key, 'verified', {'o', 'ok'})
    audit(key, 'assertion_issued')
  elseif state == '3' and reason == '2' then
    audit(key, 'reported')
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
-- never share counters), then a letter, then the method family:
--   IH f M  consecutive failures     IH t M  time of the last failure
--   IH n M  locks so far             IH l M  locked until (ms)
--   IH s    the identity's recent send times    IH c CONV  the conversation's verification
--   (CONV: 6 bytes naming the client's conversation; the value is the verification id's
--   body, after '<tag>-')
local function locked_for(ikey, ih, fam)
  local until_ms = tonumber(redis.call('HGET', ikey, ih .. 'l' .. fam) or '0')
  if NOW < until_ms then
    return until_ms - NOW
  end
  return 0
end

local function keep(ikey, ttl)
  if redis.call('PTTL', ikey) < ttl then
    redis.call('PEXPIRE', ikey, ttl)
  end
end

-- take_send records a send in the identity's sliding window unless it is full;
-- it returns 0, or the milliseconds until a send would be allowed.
local function take_send(ikey, ih, limit, window)
  local kept = {}
  local log = redis.call('HGET', ikey, ih .. 's')
  if log then
    for t in string.gmatch(log, '%d+') do
      if NOW - tonumber(t) < window then
        kept[#kept + 1] = t
      end
    end
  end
  if #kept >= limit then
    return tonumber(kept[#kept - limit + 1]) + window - NOW
  end
  kept[#kept + 1] = tostring(NOW)
  redis.call('HSET', ikey, ih .. 's', table.concat(kept, ','))
  keep(ikey, window)
  return 0
end

-- fail counts one failure of family fam across all the identity's verifications.
-- Failures older than the window are forgotten. From the limit on, every failure
-- locks the family for a delay that doubles with each lock, up to the maximum.
-- It returns the lock in milliseconds, or 0.
local function fail(ikey, ih, fam, limit, base, most, window)
  local f = tonumber(redis.call('HGET', ikey, ih .. 'f' .. fam) or '0')
  local last = tonumber(redis.call('HGET', ikey, ih .. 't' .. fam) or '0')
  if NOW - last > window then
    f = 0
  end
  f = f + 1
  redis.call('HSET', ikey, ih .. 'f' .. fam, f, ih .. 't' .. fam, NOW)
  local lock = 0
  if f >= limit then
    local n = redis.call('HINCRBY', ikey, ih .. 'n' .. fam, 1)
    lock = math.floor(math.min(base * 2 ^ (n - 1), most))
    redis.call('HSET', ikey, ih .. 'l' .. fam, NOW + lock)
  end
  keep(ikey, window)
  return lock
end

-- succeed resets the family's failures: a success clears only its own family.
local function succeed(ikey, ih, fam)
  redis.call('HDEL', ikey, ih .. 'f' .. fam, ih .. 't' .. fam, ih .. 'n' .. fam, ih .. 'l' .. fam)
end

-- The counters hash is shared by every identity whose verifications carry its tag
-- (a tag is 14 bits: about six identities each at 100,000 pending), so it outlives
-- any one identity's need for it and a field nobody will read again has to go:
-- prune_identities drops every field that can no longer decide anything: a send log
-- whose newest send is out of the send window, a conversation pointer whose
-- verification is gone, and a family's failure counters whose last failure is out
-- of the failure window and whose lock has ended. It reads the whole hash, so it
-- runs only once the hash holds more than PRUNE_AT fields, and at most once per
-- PRUNE_EVERY ms per hash (field '#' holds when it last ran): on every start it cost
-- a third of the start rate at 24 fields per hash. A stale field stays until the
-- tag's next start a minute or more after the last prune. Identity hashes IH are
-- IH_LEN characters.
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
      local newest = 0
      for t in string.gmatch(v, '%d+') do
        newest = math.max(newest, tonumber(t))
      end
      if NOW - newest >= send_window then
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
      for _, k in ipairs({'f', 't', 'n', 'l'}) do
        gone[#gone + 1] = ih .. k .. m
      end
    end
  end
  if #gone > 0 then
    redis.call('HDEL', ikey, unpack(gone))
  end
end

-- supersede ends what the previous verification of the same conversation started or
-- granted (a canceled pending one, a revoked verified one) and makes rec_id the
-- conversation's verification. prefix is the key prefix of the tag's records
-- ('v:{tag}:tag-') and rec_id the record's id after it (its body).
local function supersede(ikey, ih, conv_suffix, prefix, rec_id, ttl)
  local conv = ih .. 'c' .. conv_suffix
  local prev = redis.call('HGET', ikey, conv)
  if prev == rec_id then
    return
  end
  if prev then
    local pkey = prefix .. prev
    local pst = redis.call('HGET', pkey, 'st')
    if pst == '1' then
      finish(pkey, '5')
    elseif pst == '2' then
      revoke(pkey)
    end
  end
  redis.call('HSET', ikey, conv, rec_id)
  keep(ikey, ttl)
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

-- stands tells whether what the verification rec granted is still in force: it is
-- VERIFIED, not revoked, and, when a factor completed it, the customer still holds
-- that factor (removing or reporting a factor revokes every assertion minted on it).
-- A missing record does not stand (records outlive their assertions).
local function stands(rec)
  local st, rv, vf = unpack(redis.call('HMGET', rec, 'st', 'rv', 'vf'))
  if st ~= '2' or rv == '1' then
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
-- lifetime, the 12th packed field (record.go).
local TT_FIELD = 12
local function created_at(rec)
  return tonumber(redis.call('HGET', rec, 'ex')) - (tonumber(packed_field(rec, TT_FIELD)) or 0)
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
-- identity (the limit, first lock, longest lock and window are ARGV[a..a+3], the
-- wrong attempts that fail a verification ARGV[a+4]).
local function wrong(rec, ikey, ih, fam, a, why)
  local at = redis.call('HINCRBY', rec, 'at', 1)
  audit(rec, 'attempt_failed', {'m', METHOD_NAMES[fam], 'o', 'wrong', 'r', why or ''})
  local mx = tonumber(ARGV[a + 4])
  local lock = fail(ikey, ih, fam, tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]))
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
