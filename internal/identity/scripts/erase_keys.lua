-- erase_keys: delete, among keys found by SCAN under one hash tag, those that belong
-- to the customer being erased. Each key is judged and deleted here, with the keys
-- that go with it (a record's or an enrollment's ':s'), so no record is ever half
-- deleted; keys of anyone else are left alone. Self-contained (no prelude).
-- KEYS: keys "v:{tag}:…" of one tag (so one slot).
-- ARGV[1] now ms, ARGV[2] the customer hash, ARGV[3] the customer id, ARGV[4] the
-- customer's WebAuthn user handle as a ceremony's JSON carries it (std base64),
-- ARGV[5] the identity hashes of the customer's linked identities, comma-separated.
-- What goes:
--   <vid>        a verification whose 'ck' is the customer hash, or one that named no
--                customer and whose 'lc' is the customer id or whose 'ih' is one of
--                the linked identities; with its passkey ceremony <vid>:s and its
--                live handover h:<body>
--   e:<id>       an enrollment whose 'ch' is the customer hash, with its ceremony :s
--   n:<id>       a factor's report link whose 'ch' is the customer hash
--   k:<ih>       a link pointer to the customer id (made by any client)
--   …:s          a ceremony whose record or enrollment is gone (it outlived it) and
--                that names the customer's user handle
-- Never: the counters hash 'i' (erase_counters), the audit stream 'a' (pseudonyms
-- only), customer hashes 'c:…' (erase_customer).
-- Returns {verifications deleted, open enrollments deleted, {identity hash of each
-- deleted verification}, {"<network>\31<user id>" of each deleted verification of
-- the customer}, {identity hash of each deleted verification that named no customer}}.
local NOW, CH, CU, HANDLE = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local linked = {}
for ih in string.gmatch(ARGV[5], '[^,]+') do
  linked[ih] = true
end

local function typ(k)
  return redis.call('TYPE', k)['ok']
end

-- packed_identity returns "<network>\31<user id>" from a record's packed fields
-- (package challenge, record.go: nw and ui come first).
local function packed_identity(rec)
  local parts, i = {}, 0
  while true do
    local chunk = redis.call('HGET', rec, 'p' .. i)
    if not chunk then
      break
    end
    parts[#parts + 1] = chunk
    i = i + 1
  end
  return string.match(table.concat(parts), '^([^\031]*\031[^\031]*)')
end

-- orphan_ceremony reports whether k (a string "…:s") outlived its parent and names
-- the customer's user handle.
local function orphan_ceremony(k, parent)
  if redis.call('EXISTS', parent) == 1 or typ(k) ~= 'string' then
    return false
  end
  return string.find(redis.call('GET', k) or '', HANDLE, 1, true) ~= nil
end

local verifications, enrollments, ihs, idents, unnamed = 0, 0, {}, {}, {}
for _, k in ipairs(KEYS) do
  local rest = string.match(k, '^v:{[^}]*}:(.*)$')
  if rest == nil or rest == 'i' or rest == 'a' or string.sub(rest, 1, 2) == 'c:' then
    -- not ours to judge here
  elseif string.sub(rest, 1, 2) == 'k:' then
    -- "<customer id>\31<client>", or the customer id alone (a link made before links
    -- recorded their client): whichever client made it.
    if typ(k) == 'string' and string.match(redis.call('GET', k), '^[^\031]*') == CU then
      redis.call('DEL', k)
    end
  elseif string.match(rest, '^e:[^:]+$') then
    if typ(k) == 'hash' then
      local ch, st, ex = unpack(redis.call('HMGET', k, 'ch', 'st', 'ex'))
      if ch == CH then
        if st == '1' and ex and NOW < tonumber(ex) then
          enrollments = enrollments + 1
        end
        redis.call('DEL', k, k .. ':s')
      end
    end
  elseif string.match(rest, '^n:[^:]+$') then
    -- A report link of a factor the customer was told about (report.go).
    if typ(k) == 'hash' and redis.call('HGET', k, 'ch') == CH then
      redis.call('DEL', k)
    end
  elseif string.match(rest, '^e:[^:]+:s$') then
    local parent = string.sub(k, 1, -3)
    if orphan_ceremony(k, parent) or (typ(parent) == 'hash' and redis.call('HGET', parent, 'ch') == CH) then
      redis.call('DEL', k)
    end
  elseif string.match(rest, '^[a-z2-7]+%-[a-z2-7]+$') then
    if typ(k) == 'hash' then
      local ck, lc, ih = unpack(redis.call('HMGET', k, 'ck', 'lc', 'ih'))
      if ck == CH or (not ck and (lc == CU or (ih and linked[ih]))) then
        if ih then
          ihs[#ihs + 1] = ih
        end
        if ck then
          idents[#idents + 1] = packed_identity(k) or ''
        elseif ih then
          unnamed[#unnamed + 1] = ih
        end
        -- Its live handover (package challenge, 'ho': "kind|<tag>.<body>|…") goes with it.
        local hbody = string.match(redis.call('HGET', k, 'ho') or '', '^%d|[^.|]*%.([^|]*)|')
        if hbody then
          redis.call('DEL', string.match(k, '^(v:{[^}]*}:)') .. 'h:' .. hbody)
        end
        redis.call('DEL', k, k .. ':s')
        verifications = verifications + 1
      end
    end
  elseif string.match(rest, '^[a-z2-7]+%-[a-z2-7]+:s$') then
    if orphan_ceremony(k, string.sub(k, 1, -3)) then
      redis.call('DEL', k)
    end
  end
end
return {verifications, enrollments, ihs, idents, unnamed}
