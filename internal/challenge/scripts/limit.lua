-- limit: one send limit as a generic cell rate (GCRA, as go-redis/redis_rate does):
-- one small key per window whatever the traffic, holding the theoretical arrival
-- time (ms). N sends fit in any window of Per; after a burst of N, one more fits
-- every Per/N. Self-contained (no prelude): it runs on its own key's slot,
-- pipelined beside the verification's own script.
-- KEYS[1] the cell; ARGV[1] now ms, ARGV[2] window ms, ARGV[3] sends allowed.
-- Returns {allowed 1|0, ms until a send would be allowed, counted 1|0}.
local key, now = KEYS[1], tonumber(ARGV[1])
local period, n = tonumber(ARGV[2]), tonumber(ARGV[3])
local emission = period / n
local tat = tonumber(redis.call('GET', key) or '0')
if tat < now then
  tat = now
end
local next_tat = tat + emission
local allow_at = next_tat - period
if allow_at > now then
  return {0, math.ceil(allow_at - now), 0}
end
redis.call('SET', key, string.format('%.0f', next_tat), 'PX', math.ceil(next_tat - now))
return {1, 0, 1}
