-- lapse: make durable the expiry of verifications nobody touched after it (package
-- challenge's Lapser calls it once a verification's expiry has passed). Each of the records
-- KEYS[1..n] (one hash tag's; the audit stream is the last key) that is still pending past
-- its stored expiry becomes EXPIRED here, with its audit event (and so its event to the
-- platform), exactly as any other script makes it on its first touch (expire_if_due).
-- Returns, per record, 0 when it is no longer pending (gone, ended, or expired now), or its
-- expiry (ms) when it is pending and not yet due by the service's clock.
local n = ARET and #KEYS - 1 or #KEYS
local out = {}
for i = 1, n do
  local rec = KEYS[i]
  local st, ex = unpack(redis.call('HMGET', rec, 'st', 'ex'))
  if st == '1' and not expire_if_due(rec) then
    out[i] = tonumber(ex)
  else
    out[i] = 0
  end
end
return out
