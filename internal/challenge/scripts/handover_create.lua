-- handover_create: offer a handover on verification KEYS[2] (handover.go).
-- KEYS[1] the handover hash, KEYS[2] the record (one slot: the handover id carries
-- the verification's tag).
-- ARGV[3] client, [4] verification id, [5] kind ('1' secure channel, '2' phone),
-- [6] channel id ('' for phone), [7] redeeming client, [8] case reference ('' none),
-- [9] offer expiry (ms), [10] the handover key's TTL (ms).
-- Returns {'ok', expiry ms} | {'notfound'} | {'state'} | {'reused'}.
-- The record is PENDING (not past its expiry) or VERIFIED and standing; a repeat
-- (same handover id, same parameters) answers as the first call did. The record
-- keeps which handover is live ('ho': kind|id|expiry|channel) and the case
-- reference ('hr'), so that erasing the record leaves the handover nothing to hand.
local hk, rec = KEYS[1], KEYS[2]
local client, vid, kind, channel, redeemer, caseref = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local exp, ttl = ARGV[9], tonumber(ARGV[10])
local hid = handover_id(hk)
if redis.call('EXISTS', hk) == 1 then
  local k, e, n = handover_offer(rec, hk)
  if redis.call('HGET', hk, 'v') == vid and k == kind and n == channel and redis.call('HGET', rec, 'cl') == client then
    return {'ok', string.format('%.0f', e)}
  end
  return {'reused'}
end
if redis.call('EXISTS', rec) == 0 or redis.call('HGET', rec, 'cl') ~= client then
  return {'notfound'}
end
local st, ex = unpack(redis.call('HMGET', rec, 'st', 'ex'))
local pending = st == '1' and NOW < tonumber(ex)
if not pending and not stands(rec) then
  return {'state'}
end
redis.call('HSET', hk, 'v', vid, 'k', kind, 'r', redeemer, 's', '1')
if not pending then
  -- Offered on a verified verification: its code is shown only to the browser that verified
  -- it. A phone offer made while pending was on the pending page, open to whoever holds the
  -- link, so its call code hands over the case alone, never the identity (handover_redeem).
  redis.call('HSET', hk, 'w', '1')
end
redis.call('PEXPIRE', hk, ttl)
redis.call('HSET', rec, 'ho', kind .. '|' .. hid .. '|' .. exp .. '|' .. channel)
if caseref ~= '' then
  redis.call('HSET', rec, 'hr', caseref)
else
  redis.call('HDEL', rec, 'hr')
end
audit(rec, 'handover_created', {'c', client, 'm', HANDOVER_KINDS[kind]})
return {'ok', exp}
