-- unlimit: take back a send that was counted but never made (a refused or repeated
-- start). KEYS[1] the cell or bucket; ARGV[1] now ms, ARGV[2] window ms, ARGV[3]
-- sends allowed, ARGV[4] the field in the bucket ('' for a string cell), ARGV[5] the
-- token of the call whose send is taken back (see limit.lua).
-- Only a send this call's token counted is taken back, and once: the token leaves
-- the cell with it, so a replay (go-redis resending after a lost reply) or a call
-- that counted nothing here finds nothing to take back. A token the cell no longer
-- holds (a bucket cell keeps one) leaves the send counted: the limit errs strict.
-- Returns 1 when a send was taken back, 0 otherwise.
local field, token = ARGV[4] or '', ARGV[5]
local v
if field == '' then
  v = redis.call('GET', KEYS[1])
else
  v = redis.call('HGET', KEYS[1], field)
end
if not v then
  return 0
end
local t, tokens = string.match(v, '^(%d+)(.*)$')
local i, j = string.find(tokens .. ':', ':' .. token .. ':', 1, true)
if not i then
  return 0
end
tokens = string.sub(tokens, 1, i - 1) .. string.sub(tokens, j)
local now, tat = tonumber(ARGV[1]), tonumber(t)
-- A drained cell limits nothing: there is no send left to take back.
local back = tat
if tat > now then
  back = tat - tonumber(ARGV[2]) / tonumber(ARGV[3])
end
if back <= now and tokens == '' then
  if field == '' then
    redis.call('DEL', KEYS[1])
  else
    redis.call('HDEL', KEYS[1], field)
  end
  return tat > now and 1 or 0
end
local value = string.format('%.0f', back) .. tokens
if field == '' then
  redis.call('SET', KEYS[1], value, 'KEEPTTL')
else
  redis.call('HSET', KEYS[1], field, value)
end
return tat > now and 1 or 0
