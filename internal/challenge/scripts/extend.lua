-- extend: "I need more time" on the customer's page (WCAG 2.2.1). A pending, unexpired
-- verification's expiry moves forward by its own lifetime ('tt'), at most ARGV[5]
-- times, and never past its creation plus ARGV[6] (Config.MaxTTL): the last extension
-- is cut short there, and once the expiry is there nothing more is given. The record
-- keeps how often ('xn') and by how much in all ('xd', ms) it was extended, so that its
-- creation time stays its expiry less its lifetime less 'xd' (prelude: created_at).
-- The record and the identity's counters live on past the new expiry as they did past
-- the old one (ARGV[7] retention ms); the conversation's pointer is moved by Go
-- (conversation_extend.lua), on its own slot, once this answers 'extended'.
-- KEYS[1] record, KEYS[2] identity hash; ARGV[3] request field, ARGV[4] the keyed hash
-- of a magic-link page's token ('' for a code page, whose token Go checked), ARGV[5]
-- most extensions, ARGV[6] MaxTTL ms, ARGV[7] retention ms.
-- Returns {'extended', expiry ms, extensions so far} | {'limit'} | {'cap'} | {'expired'}
--       | {'state'} | {'gone'}. A repeat of the request answers its first 'extended'
-- (go-redis resending a script whose reply was lost, a double-submitted form) without
-- extending again; a refusal is not recorded: asked again, it is refused again.
local rec = KEYS[1]
local prior = answered(rec, ARGV[3])
if prior then
  return prior
end
if ARGV[4] ~= '' and redis.call('HGET', rec, 'ls') ~= ARGV[4] then
  return {'gone'}
end
if expire_if_due(rec) then
  return {'expired'}
end
local st, ex, xn, xd = unpack(redis.call('HMGET', rec, 'st', 'ex', 'xn', 'xd'))
if st ~= '1' then
  return {'state'}
end
local n = tonumber(xn or '0') or 0
if n >= tonumber(ARGV[5]) then
  return {'limit'}
end
local tt = tonumber(packed_field(rec, TT_FIELD)) or 0
local until_ms = tonumber(ex)
local room = created_at(rec) + tonumber(ARGV[6]) - until_ms
if tt <= 0 or room <= 0 then
  return {'cap'}
end
local add = math.min(tt, room)
local new = string.format('%.0f', until_ms + add)
n = n + 1
redis.call('HSET', rec, 'ex', new, 'xn', n, 'xd', string.format('%.0f', (tonumber(xd or '0') or 0) + add))
local life = tonumber(new) + tonumber(ARGV[7]) - NOW
if redis.call('PTTL', rec) < life then
  redis.call('PEXPIRE', rec, life)
end
keep(KEYS[2], life)
-- Watchers re-read the record: still pending, with the new expiry.
publish(rec, '1')
audit(rec, 'extended', {'e', new})
local out = {'extended', new, tostring(n)}
redis.call('HSET', rec, ARGV[3], cjson.encode(out))
return out
