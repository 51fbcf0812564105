-- resend: claim a new send with a new secret; the previous code or link stops working.
-- KEYS[1] record, KEYS[2] identity hash; ARGV[3] request field, ARGV[4] destination
-- hash, ARGV[5] code hash, ARGV[6] link hash, ARGV[7] send lease ms, ARGV[8] max sends,
-- ARGV[9] the identity's limits (start.lua's ARGV[13]: sends per client and of all
-- clients first) in ARGV[10] ms, ARGV[11] this call's token.
-- The request field remembers the token and the send it claimed: a replay of the
-- same call (go-redis resending after a lost reply) answers {'send', seq} again,
-- a client's repeat of the request id answers {'repeat'}. The claim also records the
-- token as 'tk', so that release.lua can give it up if the call fails before sending.
-- Returns {'send', seq} | {'repeat'} | {'gone'} | {'state'} | {'expired'} | {'nothing'}
--       | {'mismatch'} | {'busy'} | {'limit'} | {'locked', ms} | {'limited', ms}.
local rec = KEYS[1]
if redis.call('EXISTS', rec) == 0 then
  return {'gone'}
end
local seen = redis.call('HGET', rec, ARGV[3])
if seen then
  local tk, seq = string.match(seen, '^(.*):(%d+)$')
  if tk == ARGV[11] then
    return {'send', tonumber(seq)}
  end
  return {'repeat'}
end
if expire_if_due(rec) then
  return {'expired'}
end
local st, dv, dh, dl, dt, sq, ih, cl = unpack(redis.call('HMGET', rec, 'st', 'dv', 'dh', 'dl', 'dt', 'sq', 'ih', 'cl'))
if st ~= '1' then
  return {'state'}
end
if not dv or dv == '' then
  return {'nothing'}
end
if dh ~= ARGV[4] then
  return {'mismatch'}
end
if dl == '2' and NOW - tonumber(dt) < tonumber(ARGV[7]) then
  return {'busy'}
end
if tonumber(sq) >= tonumber(ARGV[8]) then
  return {'limit'}
end
local ct = record_tag(rec)
local lock = locked_for(KEYS[2], ih, ct, dv)
if lock > 0 then
  return {'locked', lock}
end
local per, shared = numbers(ARGV[9], 2)
local wait = take_send(KEYS[2], ih, ct, per, shared, tonumber(ARGV[10]))
if wait > 0 then
  return {'limited', wait}
end
local seq = redis.call('HINCRBY', rec, 'sq', 1)
redis.call('HSET', rec, 'dl', '2', 'dt', NOW, 'co', ARGV[5], 'ls', ARGV[6], 'tk', ARGV[11],
  ARGV[3], ARGV[11] .. ':' .. seq)
return {'send', seq}
