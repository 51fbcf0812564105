-- limit: one send limit as a generic cell rate (GCRA, as go-redis/redis_rate does):
-- the cell holds the theoretical arrival time (ms). N sends fit in any window of
-- Per; after a burst of N, one more fits every Per/N. Self-contained (no prelude):
-- it runs on its own key's slot, pipelined beside the verification's own script.
-- A cell is either a string key of its own (few, busy cells: a client, an agent)
-- or a field of a bucket hash (one per destination or number prefix, so many that
-- a key each would cost more than the verification itself): the bucket keeps its
-- live cells and drops stale ones once it grows past 64 fields.
-- go-redis resends a script whose reply was lost: a cell keeps, after its time, the
-- tokens of the last calls it counted ("<TAT>:<token>:<token>…", newest last), and a
-- call whose token is there was counted already: it answers as it did and counts
-- nothing. A bucket cell keeps one token (a destination sees few calls, and each
-- token costs every cell of the bucket), a string cell the last STRING_TOKENS (a
-- busy client counts other calls between a call and its replay). A cell lives at
-- least the replay window, so that a replay finds the token even once the cell has
-- drained; unlimit.lua takes a call's send back once, by the same token.
-- KEYS[1] the cell or bucket; ARGV[1] now ms, ARGV[2] window ms, ARGV[3] sends
-- allowed, ARGV[4] the field in the bucket ('' for a string cell), ARGV[5] the
-- call's token (no ':'), ARGV[6] the replay window ms.
-- Returns {allowed 1|0, ms until a send would be allowed, counted 1|0}.
local STRING_TOKENS = 32
local key, now = KEYS[1], tonumber(ARGV[1])
local period, n, field, token = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] or '', ARGV[5]
local replay = tonumber(ARGV[6])
local emission = period / n
local v
if field == '' then
  v = redis.call('GET', key)
else
  v = redis.call('HGET', key, field)
end
local tat, tokens = 0, ''
if v then
  local t, rest = string.match(v, '^(%d+)(.*)$')
  tat, tokens = tonumber(t), rest
end
if string.find(tokens .. ':', ':' .. token .. ':', 1, true) then
  return {1, 0, 1}
end
if tat < now then
  tat = now
end
local next_tat = tat + emission
local allow_at = next_tat - period
if allow_at > now then
  return {0, math.ceil(allow_at - now), 0}
end
local ttl = math.max(math.ceil(next_tat - now), replay)
if field == '' then
  local kept = {}
  for t in string.gmatch(tokens, '[^:]+') do
    kept[#kept + 1] = t
  end
  local from = math.max(1, #kept - STRING_TOKENS + 2)
  local value = string.format('%.0f', next_tat)
  for i = from, #kept do
    value = value .. ':' .. kept[i]
  end
  redis.call('SET', key, value .. ':' .. token, 'PX', ttl)
  return {1, 0, 1}
end
if redis.call('HLEN', key) > 64 then
  -- A cell is stale once it limits nothing and no replay can still come for it.
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    if tonumber(string.match(all[i + 1], '^%d+')) + replay < now then
      redis.call('HDEL', key, all[i])
    end
  end
end
redis.call('HSET', key, field, string.format('%.0f', next_tat) .. ':' .. token)
if redis.call('PTTL', key) < ttl then
  redis.call('PEXPIRE', key, ttl)
end
return {1, 0, 1}
