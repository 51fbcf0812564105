-- limit: one send limit as a generic cell rate (GCRA, as go-redis/redis_rate does):
-- the cell holds the theoretical arrival time (ms). N sends fit in any window of
-- Per; after a burst of N, one more fits every Per/N. Self-contained (no prelude):
-- it runs on its own key's slot, pipelined beside the verification's own script.
-- A cell is either a string key of its own (few, busy cells: a client, an agent)
-- or a field of a bucket hash (one per destination or number prefix, so many that
-- a key each would cost more than the verification itself): the bucket keeps its
-- live cells and drops stale ones (TAT in the past) once it grows past 64 fields.
-- KEYS[1] the cell or bucket; ARGV[1] now ms, ARGV[2] window ms, ARGV[3] sends
-- allowed, ARGV[4] the field in the bucket ('' for a string cell).
-- Returns {allowed 1|0, ms until a send would be allowed, counted 1|0}.
local key, now = KEYS[1], tonumber(ARGV[1])
local period, n, field = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] or ''
local emission = period / n
local tat
if field == '' then
  tat = tonumber(redis.call('GET', key) or '0')
else
  tat = tonumber(redis.call('HGET', key, field) or '0')
end
if tat < now then
  tat = now
end
local next_tat = tat + emission
local allow_at = next_tat - period
if allow_at > now then
  return {0, math.ceil(allow_at - now), 0}
end
local value, ttl = string.format('%.0f', next_tat), math.ceil(next_tat - now)
if field == '' then
  redis.call('SET', key, value, 'PX', ttl)
  return {1, 0, 1}
end
if redis.call('HLEN', key) > 64 then
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    if tonumber(all[i + 1]) < now then
      redis.call('HDEL', key, all[i])
    end
  end
end
redis.call('HSET', key, field, value)
if redis.call('PTTL', key) < ttl then
  redis.call('PEXPIRE', key, ttl)
end
return {1, 0, 1}
