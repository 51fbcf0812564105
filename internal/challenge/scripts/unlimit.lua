-- unlimit: take back a send that was counted but never made (a refused or repeated
-- start). KEYS[1] the cell or bucket; ARGV[1] now ms, ARGV[2] window ms, ARGV[3]
-- sends allowed, ARGV[4] the field in the bucket ('' for a string cell), ARGV[5] the
-- token of the call whose send is taken back (see limit.lua).
-- Only a send this call's token counted is taken back, and once: the token goes
-- with it, so a replay (go-redis resending after a lost reply) or a call that
-- counted nothing here finds nothing to take back. A token no longer kept (the
-- cell or bucket counted many calls since) leaves the send counted: the limit
-- errs strict.
-- Returns 1 when a send was taken back, 0 otherwise.
local now, field, token = tonumber(ARGV[1]), ARGV[4] or '', ARGV[5]
local v, tokens
if field == '' then
  v = redis.call('GET', KEYS[1])
  tokens = v and string.match(v, '^%d+(.*)$') or ''
else
  v = redis.call('HGET', KEYS[1], field)
  tokens = redis.call('HGET', KEYS[1], '#') or ''
end
local i, j = string.find(tokens .. ':', ':' .. token .. ':', 1, true)
if not i then
  return 0
end
tokens = string.sub(tokens, 1, i - 1) .. string.sub(tokens, j)
if field ~= '' then
  if tokens == '' then
    redis.call('HDEL', KEYS[1], '#')
  else
    redis.call('HSET', KEYS[1], '#', tokens)
  end
end
if not v then
  -- A bucket's cell pruned once drained: nothing left to take back.
  return 0
end
local tat = tonumber(string.match(v, '^%d+'))
-- A drained cell limits nothing: there is no send left to take back.
local back, out = tat, 0
if tat > now then
  back, out = tat - tonumber(ARGV[2]) / tonumber(ARGV[3]), 1
end
if field ~= '' then
  if back <= now then
    redis.call('HDEL', KEYS[1], field)
  else
    redis.call('HSET', KEYS[1], field, string.format('%.0f', back))
  end
elseif back <= now and tokens == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%.0f', back) .. tokens, 'KEEPTTL')
end
return out
