-- report_factor: the customer's "this wasn't me" on a first factor's notice. Removes
-- the factor with its sign count and last use (it stops working at once, and every
-- assertion minted on it stops standing: package challenge's stands), uses the link up
-- and writes factor_reported. Self-contained apart from the audit helpers.
-- KEYS[1] the report link record, KEYS[2] the customer hash (same tag), then the audit
-- stream. ARGV[1] now ms, ARGV[2] a fresh pseudonym key for a customer that has none,
-- ARGV[3] the customer data's retention ms.
-- Returns {'removed', F value, factor id} | {'done'} (reported already, or the factor
-- was gone already) | {'gone'} (no such open link).
local st, fid, cl, kd = unpack(redis.call('HMGET', KEYS[1], 'st', 'fi', 'cl', 'kd'))
if st == '2' then
  return {'done'}
end
if st ~= '1' then
  return {'gone'}
end
redis.call('HSET', KEYS[1], 'st', '2')
local v = redis.call('HGET', KEYS[2], 'F' .. fid)
local pk = pseudonym_key(KEYS[2], ARGV[2])
local outcome = 'already_removed'
if v then
  redis.call('HDEL', KEYS[2], 'F' .. fid, 'c' .. fid, 'u' .. fid)
  outcome = 'removed'
end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
audit(ARGV[1], {'k', 'factor_reported', 'c', cl or '', 'm', FACTOR_METHODS[kd] or '', 'o', outcome,
  'r', 'customer_report', 'u', pseudonym(pk, customer_hash(KEYS[2]))})
if v then
  return {'removed', v, fid}
end
return {'done'}
