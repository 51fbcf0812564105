-- report_factor: the customer's "this wasn't me" on a first factor's notice. The
-- reported factor was her first, so every factor she holds was bound on its strength
-- or after it (a SUBSTANTIAL proof made with it binds more, without a notice): all of
-- them go, with their sign counts and last uses, and every assertion minted on any of
-- them stops standing at once (package challenge's stands). The customer is then on
-- hold ('rh'): until then a LOW proof binds no first factor again, so whoever holds
-- the contact cannot strip her factors and bind his own. The link is used up, and
-- factor_reported is written. Self-contained apart from the audit helpers.
-- KEYS[1] the report link record, KEYS[2] the customer hash (same tag), then the audit
-- stream. ARGV[1] now ms, ARGV[2] a fresh pseudonym key for a customer that has none,
-- ARGV[3] the customer data's retention ms, ARGV[4] the hold ms.
-- Returns {'removed', {fid, F value, …}} (also to a repeat: the record keeps what it
-- removed, 'rm', so a retried call can still release passkeys' credential claims)
-- | {'gone'} (no such open link).
local st, fid, cl, kd = unpack(redis.call('HMGET', KEYS[1], 'st', 'fi', 'cl', 'kd'))
if st == '2' then
  return {'removed', cjson.decode(redis.call('HGET', KEYS[1], 'rm') or '[]')}
end
if st ~= '1' then
  return {'gone'}
end
local removed, gone = {}, {}
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  local f = all[i]
  if string.sub(f, 1, 1) == 'F' then
    local id = string.sub(f, 2)
    removed[#removed + 1] = id
    removed[#removed + 1] = all[i + 1]
    gone[#gone + 1] = f
    gone[#gone + 1] = 'c' .. id
    gone[#gone + 1] = 'u' .. id
  end
end
if #gone > 0 then
  redis.call('HDEL', KEYS[2], unpack(gone))
end
local hold = tonumber(ARGV[1]) + tonumber(ARGV[4])
if tonumber(redis.call('HGET', KEYS[2], 'rh') or '0') < hold then
  redis.call('HSET', KEYS[2], 'rh', hold)
end
redis.call('HSET', KEYS[1], 'st', '2', 'rm', cjson.encode(removed))
local pk = pseudonym_key(KEYS[2], ARGV[2])
retain(KEYS[2], ARGV[3])
local outcome = 'removed'
if #removed == 0 then
  outcome = 'already_removed'
end
audit(ARGV[1], {'k', 'factor_reported', 'c', cl or '', 'm', FACTOR_METHODS[kd] or '', 'o', outcome,
  'r', 'customer_report:' .. (#removed / 2) .. '_removed', 'u', pseudonym(pk, customer_hash(KEYS[2]))})
return {'removed', removed}
