-- passkey_finish: use the enrollment up, store the passkey in the customer's hash and
-- write factor_enrolled.
-- KEYS[1] enrollment, KEYS[2] customer hash (same tag), then the audit stream.
-- ARGV[2] factor id, ARGV[3] the factor's F value, ARGV[4] sign count,
-- ARGV[5] customer id, ARGV[6] retention ms, ARGV[7] a fresh pseudonym key for a
-- customer that has none.
-- Returns 1 (also for a retried call that already stored this factor), or 0 when the
-- enrollment is no longer open.
local enr = KEYS[1]
if redis.call('HGET', enr, 'st') == '2' and redis.call('HGET', enr, 'fi') == ARGV[2] then
  return 1
end
if not is_open(enr, '2') then
  return 0
end
redis.call('HSET', enr, 'st', '2', 'fi', ARGV[2])
redis.call('HSET', KEYS[2], 'F' .. ARGV[2], ARGV[3], 'c' .. ARGV[2], ARGV[4], 'cu', ARGV[5])
local pk = pseudonym_key(KEYS[2], ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
audit(NOW, {'k', 'factor_enrolled', 'c', redis.call('HGET', enr, 'cl') or '', 'm', 'webauthn', 'o', 'ok',
  'u', pseudonym(pk, customer_hash(KEYS[2]))})
return 1
