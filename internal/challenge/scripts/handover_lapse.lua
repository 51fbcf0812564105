-- handover_lapse: make durable the expiry of handovers nobody redeemed (package
-- challenge's Lapser calls it once a handover offer's expiry has passed). For each of
-- the records KEYS[1..n] (one hash tag's; the audit stream is the last key), the
-- handover its 'ho' names (the live offer: a replaced one is not named) that was
-- neither redeemed nor already audited as expired, and whose time ran out (an
-- offered one's offer expiry, a bound one's code expiry: what GetHandover reads as
-- EXPIRED), gets its one 'handover_expired' audit event (c the record's client, m the
-- kind) and the marker 'l' on its handover hash, so that a second call, from any
-- replica, writes nothing.
-- Returns, per record, 0 when there is nothing more to watch (no record, no live
-- offer, its hash gone, redeemed, marked, or expired now), or when (ms) to ask
-- again: the live offer's time has not run out by the service's clock.
local n = ARET and #KEYS - 1 or #KEYS
local out = {}
for i = 1, n do
  local rec = KEYS[i]
  out[i] = 0
  local kind, hid, exp = string.match(redis.call('HGET', rec, 'ho') or '', '^(%d)|([^|]*)|(%d+)|')
  local body = hid and string.match(hid, '^[^.]*%.(.+)$')
  if body then
    local hk = string.match(rec, '^(v:{[^}]*}:)') .. 'h:' .. body
    local s, x, l = unpack(redis.call('HMGET', hk, 's', 'x', 'l'))
    if (s == '1' or s == '2') and not l then
      local due = tonumber(exp)
      if s == '2' then
        due = tonumber(x) or due
      end
      if NOW < due then
        out[i] = due
      else
        redis.call('HSET', hk, 'l', '1')
        audit(rec, 'handover_expired', {'m', HANDOVER_KINDS[kind] or ''})
      end
    end
  end
end
return out
