-- remove_factor: delete a factor with its sign count and last use; it stops working
-- at once (every check reads F<fid> in the same hash).
-- KEYS[1] customer hash; ARGV[1] factor id, ARGV[2] retention ms.
-- Returns the removed F<fid> value, or false when there was none.
local v = redis.call('HGET', KEYS[1], 'F' .. ARGV[1])
if not v then
  return false
end
redis.call('HDEL', KEYS[1], 'F' .. ARGV[1], 'c' .. ARGV[1], 'u' .. ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return v
