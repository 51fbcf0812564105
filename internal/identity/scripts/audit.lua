-- Audit, shared by the scripts that write audit events (prepended in Go after package
-- audit's audit_event and before the script's own prelude, if any). Conventions, as in
-- package challenge: Go passes the audit stream as the last key and "A<retention ms>" as
-- the last argument (Store.run adds both); every event a script writes is also returned
-- to Go after the script's reply (see audited in audit.go), which mirrors it to the
-- structured audit log. A customer and its identities are named only by pseudonyms under
-- the customer's own key 'pk' (64 hex digits in the customer hash): erasing the customer
-- deletes the key, and its entries can no longer be tied to anyone.
local AKEY = KEYS[#KEYS]
local ARET = tonumber(string.match(ARGV[#ARGV] or '', '^A(%d+)$'))
local AUDITED = {}

-- pseudonym_key returns the pseudonym key of the customer hash ckey, storing fresh (64
-- random hex digits drawn in Go) when it has none yet. The caller keeps the hash's TTL.
local function pseudonym_key(ckey, fresh)
  local pk = redis.call('HGET', ckey, 'pk')
  if not pk then
    pk = fresh
    redis.call('HSET', ckey, 'pk', pk)
  end
  return pk
end

-- pseudonym is audit.Pseudonym: the first 16 hex digits of SHA-1(pk || subject).
local function pseudonym(pk, subject)
  return string.sub(redis.sha1hex(pk .. subject), 1, 16)
end

-- customer_hash is the <ch> of a customer hash key "v:{ctag}:c:<ch>".
local function customer_hash(ckey)
  return string.match(ckey, ':c:([^:]+)$')
end

-- FACTOR_METHODS names a factor kind (the first field of F<fid>) as the trail does.
local FACTOR_METHODS = {['1'] = 'totp', ['2'] = 'webauthn'}

-- audit appends one event at now_ms with the flat field list f ({'k', kind, ...}).
local function audit(now_ms, f)
  if not ARET then
    error('audit: the audit retention argument is missing')
  end
  local entry = {audit_event(AKEY, now_ms, ARET, f)}
  for _, x in ipairs(f) do
    entry[#entry + 1] = x
  end
  AUDITED[#AUDITED + 1] = entry
end
