-- limit: one sliding-window send limit. Self-contained (no prelude): it runs on its
-- own key's slot, pipelined beside the verification's own script.
-- KEYS[1] the window: a sorted set of send ids scored by time (ms).
-- ARGV[1] now ms, ARGV[2] window ms, ARGV[3] sends allowed in the window,
-- ARGV[4] this send's id. A send id already in the window is allowed again without
-- counting, so a retried call never counts twice.
-- Returns {allowed 1|0, ms until a send would be allowed, added 1|0}.
local key, now, window = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZSCORE', key, ARGV[4]) then
  return {1, 0, 0}
end
if redis.call('ZCARD', key) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now, 0}
end
redis.call('ZADD', key, now, ARGV[4])
redis.call('PEXPIRE', key, window)
return {1, 0, 1}
