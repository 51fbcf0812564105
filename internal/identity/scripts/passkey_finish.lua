-- passkey_finish: use the enrollment up, store the passkey in the customer's hash and
-- write factor_enrolled. A first factor after a LOW proof ('bs') is stored only while
-- the customer still holds none, with the report link its notice named.
-- KEYS[1] enrollment, KEYS[2] customer hash (same tag), KEYS[3] the report link record
-- of a first factor (only then), then the audit stream.
-- ARGV[2] factor id, ARGV[3] the factor's F value, ARGV[4] sign count,
-- ARGV[5] customer id, ARGV[6] retention ms, ARGV[7] a fresh pseudonym key for a
-- customer that has none, ARGV[8] the report link's id ('' for none), ARGV[9] its TTL ms,
-- ARGV[10] the clients whose enrollments the enrolling client trusts (prelude: has_factor).
-- Returns 1 (also for a retried call that already stored this factor), 0 when the
-- enrollment is no longer open, or -1 when a first factor finds the customer holds one.
local enr = KEYS[1]
if redis.call('HGET', enr, 'st') == '2' and redis.call('HGET', enr, 'fi') == ARGV[2] then
  return 1
end
if not is_open(enr, '2') then
  return 0
end
if redis.call('HGET', enr, 'bs') == '1' and (has_factor(KEYS[2], ARGV[10]) or on_hold(KEYS[2])) then
  redis.call('HSET', enr, 'st', '3')
  redis.call('HDEL', enr, 'nc')
  return -1
end
redis.call('HSET', enr, 'st', '2', 'fi', ARGV[2])
redis.call('HDEL', enr, 'nc')
redis.call('HSET', KEYS[2], 'F' .. ARGV[2], ARGV[3], 'c' .. ARGV[2], ARGV[4], 'cu', ARGV[5])
local pk = pseudonym_key(KEYS[2], ARGV[7])
retain(KEYS[2], ARGV[6])
local f = {'k', 'factor_enrolled', 'c', redis.call('HGET', enr, 'cl') or '', 'm', 'webauthn', 'o', 'ok',
  'u', pseudonym(pk, customer_hash(KEYS[2]))}
if ARGV[8] ~= '' then
  report_link(KEYS[3], enr, ARGV[2], tonumber(ARGV[9]))
  f[#f + 1], f[#f + 2] = 'r', 'first_factor_notified'
end
audit(NOW, f)
return 1
