-- start: record a new verification, or answer a repeated request. It changes nothing
-- outside its own record and the identity's send log, so a start that a send limit
-- (checked beside it, on other slots) refuses can be undone by abort.lua; the
-- previous verification of the conversation is superseded by delivered.lua.
-- KEYS[1] record, KEYS[2] identity hash
-- ARGV[3] fingerprint of the request, ARGV[4] this call's token, ARGV[5] record TTL ms,
-- ARGV[6] send lease ms, ARGV[7] (unused), ARGV[8] verification id, ARGV[9] code hash,
-- ARGV[10] link hash,
-- ARGV[11] identity hash IH, ARGV[12] method family, ARGV[13] sends allowed per
-- identity in ARGV[14] ms, ARGV[15..] field, value pairs of the new record.
-- Returns {'created'} | {'exists'} | {'resend'} | {'reused'} | {'locked'} | {'limited', ms}.
-- go-redis resends a script whose reply was lost: a replay of the same call (same
-- token, stored as 'tk' by the send claim) answers what the call first answered, so
-- the call still sends; a client's repeat (another token) answers 'exists'.
local rec, ikey, ih, fam = KEYS[1], KEYS[2], ARGV[11], ARGV[12]

-- claim_send checks the identity's lock and send window before any message leaves.
local function claim_send()
  if locked_for(ikey, ih, fam) > 0 then
    return {'locked'}
  end
  local wait = take_send(ikey, ih, tonumber(ARGV[13]), tonumber(ARGV[14]))
  if wait > 0 then
    return {'limited', wait}
  end
  return nil
end

if redis.call('EXISTS', rec) == 1 then
  local fp, st, dl, dt, tk, sq = unpack(redis.call('HMGET', rec, 'fp', 'st', 'dl', 'dt', 'tk', 'sq'))
  if fp ~= ARGV[3] then
    return {'reused'}
  end
  if tk == ARGV[4] and dl == '2' then
    if sq == '1' then
      return {'created'}
    end
    return {'resend'}
  end
  if expire_if_due(rec) or st ~= '1' then
    return {'exists'}
  end
  -- The first call's send failed, or it died mid-send: claim a fresh send with a
  -- new secret, so the repeat delivers what the first call promised.
  if dl == '4' or (dl == '2' and NOW - tonumber(dt) >= tonumber(ARGV[6])) then
    local refused = claim_send()
    if refused then
      return refused
    end
    redis.call('HSET', rec, 'dl', '2', 'dt', NOW, 'co', ARGV[9], 'ls', ARGV[10], 'tk', ARGV[4])
    redis.call('HINCRBY', rec, 'sq', 1)
    return {'resend'}
  end
  return {'exists'}
end

local refused = claim_send()
if refused then
  return refused
end

redis.call('HSET', rec, unpack(ARGV, 15))
redis.call('HSET', rec, 'tk', ARGV[4])
redis.call('PEXPIRE', rec, ARGV[5])
keep(ikey, tonumber(ARGV[5]))
return {'created'}
