
-- Handovers (handover.go). A handover hash 'v:{tag}:h:<body>' has the id
-- '<tag>.<body>' and the fields v verification id, k kind, c creating client,
-- r redeeming client, n channel, e offer expiry (ms), s state (1 offered, 2 bound,
-- 3 redeemed), p the channel's PKCE challenge and x the code's expiry (bound),
-- q the token of the call that redeemed it. Its record names the live handover in
-- 'ho' ("kind|id|expiry|channel").
local HANDOVER_KINDS = {['1'] = 'secure_channel', ['2'] = 'phone'}

local function handover_id(hk)
  local tag, body = string.match(hk, '^v:{([^}]*)}:h:(.*)$')
  return (tag or '') .. '.' .. (body or '')
end

-- handover_live tells whether record rec still names handover hk as its live one.
local function handover_live(rec, hk)
  local ho = redis.call('HGET', rec, 'ho') or ''
  local _, id = string.match(ho, '^(%d)|([^|]*)|')
  return id == handover_id(hk)
end

-- handover_refuse audits a refused step of handover kind on record rec, by client.
local function handover_refuse(rec, kind, client, reason)
  audit(rec, 'handover_refused', {'c', client, 'm', HANDOVER_KINDS[kind] or '', 'r', reason})
  return {'refused', reason}
end

-- handover_record returns the key of handover hk's verification record (on hk's
-- slot: the handover id carries the record's tag), or nil when hk is gone.
local function handover_record(hk)
  local v = redis.call('HGET', hk, 'v')
  if not v then
    return nil
  end
  return string.match(hk, '^(v:{[^}]*}:)') .. v
end
