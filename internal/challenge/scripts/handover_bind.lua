-- handover_bind: bind a secure-channel handover to the browser that completed its
-- verification and to the channel's PKCE challenge (handover.go).
-- KEYS[1] the handover; its record is the one its 'v' names, on the same slot.
-- ARGV[3] the browser's binding hash, [4] the S256 challenge, [5] the channels
-- whose redirect URLs include the one asked for ('|a|b|'), [6] the code's expiry (ms),
-- [7] '1' when the request brought back the state the continue form issued to this
-- browser for this handover (checked in Go: a keyed hash, nothing stored), else '0'.
-- Returns {'ok', redeeming client} | {'gone'} | {'refused', reason}. Binding again
-- from the same browser with the same state and challenge answers 'ok' (a reloaded page);
-- anything refused changes nothing but the audit trail, where each reason is written
-- once per handover (field 'a' keeps the reasons written): /handover/bind is a GET that
-- whoever knows a handover id can repeat, and must not flood the trail or the
-- platform's events.
local hk = KEYS[1]
local rec = handover_record(hk)
local binding, challenge, allowed, codeexp, state_ok = ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7] == '1'
if not rec or redis.call('EXISTS', rec) == 0 then
  return {'gone'}
end
local k, r, s, p = unpack(redis.call('HMGET', hk, 'k', 'r', 's', 'p'))
if k ~= '1' then
  return {'gone'}
end
local function refuse(reason)
  local seen = redis.call('HGET', hk, 'a') or '|'
  if string.find(seen, '|' .. reason .. '|', 1, true) then
    return {'refused', reason}
  end
  redis.call('HSET', hk, 'a', seen .. reason .. '|')
  return handover_refuse(rec, k, r, reason)
end
local same_browser = binding ~= '' and redis.call('HGET', rec, 'bb') == binding
if s == '2' and p == challenge and same_browser and state_ok and NOW < tonumber(redis.call('HGET', hk, 'x')) then
  return {'ok', r}
end
if s ~= '1' then
  return refuse('used')
end
local _, e, n = handover_offer(rec, hk)
if not e then
  return refuse('superseded')
end
if NOW >= e then
  return refuse('expired')
end
if not string.find(allowed, '|' .. n .. '|', 1, true) then
  return refuse('redirect')
end
if not stands(rec) then
  return refuse('state')
end
if not same_browser then
  return refuse('browser')
end
-- Her browser, but not sent by her page's continue form: a cross-site navigation by
-- someone who knows the handover id, binding a challenge of their own.
if not state_ok then
  return refuse('state_mismatch')
end
redis.call('HSET', hk, 's', '2', 'p', challenge, 'x', codeexp)
audit(rec, 'handover_bound', {'c', r, 'm', 'secure_channel'})
return {'ok', r}
