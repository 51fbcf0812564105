-- handover_get: read handover KEYS[1] for GetHandover (handover.go). Read only.
-- Returns {} when it is gone, else {verification id, kind, state, code expiry or '',
-- creating client (its record's; '' once the record is gone), 'ho' of the record
-- when it names this handover, else ''}.
local hk = KEYS[1]
local v, k, s, x = unpack(redis.call('HMGET', hk, 'v', 'k', 's', 'x'))
if not v then
  return {}
end
local rec = handover_record(hk)
local cl = redis.call('HGET', rec, 'cl') or ''
local ho = ''
if handover_offer(rec, hk) then
  ho = redis.call('HGET', rec, 'ho')
end
return {v, k or '', s or '', x or '', cl, ho}
