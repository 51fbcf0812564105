-- handover_redeem: redeem a handover, once (handover.go).
-- KEYS[1] the handover; its record is the one its 'v' names, on the same slot.
-- ARGV[3] the redeeming client, [4] the kind ('1' or '2'), [5] the S256 challenge of
-- the verifier presented ('' for phone), [6] the call's token (go-redis resends a
-- script whose reply was lost: the resend finds its own token and answers 'ok').
-- Returns {'ok', stands (1|0), verification id, record fields (flat)} | {'gone'} | {'refused', reason}.
-- A secure-channel handover must be bound, its code unexpired, its challenge the
-- verifier's and its verification standing; a phone handover's offer unexpired (and its
-- identity handed over only when it was offered on a verified verification: 'w').
-- Refusals change nothing but the audit trail.
local hk = KEYS[1]
local rec = handover_record(hk)
local client, kind, challenge, token = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if not rec or redis.call('EXISTS', rec) == 0 then
  return {'gone'}
end
local k, r, s, p, x, q, w = unpack(redis.call('HMGET', hk, 'k', 'r', 's', 'p', 'x', 'q', 'w'))
if k ~= kind then
  return {'gone'}
end
-- A phone code hands over the identity only when it was offered on a verified
-- verification ('w'): one offered while pending was shown on the pending page, to whoever
-- opened the link, and proves nothing about the caller once she has verified.
local function answer()
  local ok = stands(rec) and (k == '1' or w == '1')
  return {'ok', ok and 1 or 0, redis.call('HGET', hk, 'v'), redis.call('HGETALL', rec)}
end
if s == '3' and q == token then
  return answer()
end
if r ~= client then
  return handover_refuse(rec, k, client, 'client')
end
if s == '3' then
  return handover_refuse(rec, k, client, 'used')
end
local _, e = handover_offer(rec, hk)
if not e then
  return handover_refuse(rec, k, client, 'superseded')
end
if k == '1' then
  if s ~= '2' then
    return handover_refuse(rec, k, client, 'unbound')
  end
  if p ~= challenge then
    return handover_refuse(rec, k, client, 'verifier')
  end
  if NOW >= tonumber(x) then
    return handover_refuse(rec, k, client, 'expired')
  end
elseif NOW >= e then
  return handover_refuse(rec, k, client, 'expired')
end
if k == '1' and not stands(rec) then
  return handover_refuse(rec, k, client, 'revoked')
end
redis.call('HSET', hk, 's', '3', 'q', token)
audit(rec, 'handover_redeemed', {'c', client, 'm', HANDOVER_KINDS[k]})
return answer()
