-- remove_factor: delete a factor with its sign count and last use; it stops working
-- at once (every check reads F<fid> in the same hash). Writes factor_removed.
-- KEYS[1] customer hash, then the audit stream. ARGV[1] factor id, ARGV[2] retention
-- ms, ARGV[3] now ms, ARGV[4] the client, ARGV[5] a fresh pseudonym key for a
-- customer that has none.
-- Returns the removed F<fid> value, or false when there was none.
local v = redis.call('HGET', KEYS[1], 'F' .. ARGV[1])
if not v then
  return false
end
redis.call('HDEL', KEYS[1], 'F' .. ARGV[1], 'c' .. ARGV[1], 'u' .. ARGV[1])
local pk = pseudonym_key(KEYS[1], ARGV[5])
audit(ARGV[3], {'k', 'factor_removed', 'c', ARGV[4], 'm', FACTOR_METHODS[string.sub(v, 1, 1)] or '',
  'o', 'ok', 'u', pseudonym(pk, customer_hash(KEYS[1]))})
retain(KEYS[1], ARGV[2])
return v
