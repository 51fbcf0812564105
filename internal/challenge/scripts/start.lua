-- start: record a new verification, or answer a repeated request.
-- KEYS[1] record, KEYS[2] identity hash
-- ARGV[3] fingerprint of the request, ARGV[4] conversation field in the identity hash,
-- ARGV[5] record TTL ms, ARGV[6] send lease ms, ARGV[7] key prefix of the identity's records,
-- ARGV[8] verification id, ARGV[9] code hash, ARGV[10] link hash,
-- ARGV[11..] field, value pairs of the new record.
-- Returns {'created'} | {'exists'} | {'resend'} | {'reused'}.
local rec = KEYS[1]
if redis.call('EXISTS', rec) == 1 then
  local fp, st, dl, dt = unpack(redis.call('HMGET', rec, 'fp', 'st', 'dl', 'dt'))
  if fp ~= ARGV[3] then
    return {'reused'}
  end
  if expire_if_due(rec) or st ~= '1' then
    return {'exists'}
  end
  -- The first call's send failed, or it died mid-send: claim a fresh send with a
  -- new secret, so the repeat delivers what the first call promised.
  if dl == '4' or (dl == '2' and NOW - tonumber(dt) >= tonumber(ARGV[6])) then
    redis.call('HSET', rec, 'dl', '2', 'dt', NOW, 'co', ARGV[9], 'ls', ARGV[10])
    redis.call('HINCRBY', rec, 'sq', 1)
    return {'resend'}
  end
  return {'exists'}
end

-- A new verification for the same conversation ends what the previous one started
-- or granted.
local prev = redis.call('HGET', KEYS[2], ARGV[4])
if prev and prev ~= ARGV[8] then
  local pkey = ARGV[7] .. prev
  local pst = redis.call('HGET', pkey, 'st')
  if pst == '1' then
    finish(pkey, '5')
  elseif pst == '2' and redis.call('HGET', pkey, 'rv') ~= '1' then
    redis.call('HSET', pkey, 'rv', '1')
    publish(pkey, '2')
  end
end

redis.call('HSET', rec, unpack(ARGV, 11))
redis.call('PEXPIRE', rec, ARGV[5])
redis.call('HSET', KEYS[2], ARGV[4], ARGV[8])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[5]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
return {'created'}
