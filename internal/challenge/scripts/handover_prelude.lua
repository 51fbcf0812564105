
-- Handovers (handover.go). A handover hash 'v:{tag}:h:<body>' has the id
-- '<tag>.<body>' and the fields v verification id, k kind, r redeeming client,
-- s state (1 offered, 2 bound, 3 redeemed), p the channel's PKCE challenge and x
-- the code's expiry (once bound), q the token of the call that redeemed it, l set
-- once its 'handover_expired' audit event was written (handover_lapse.lua). What
-- the offer is (kind, expiry, channel) its record says, in 'ho'
-- ("kind|id|expiry|channel"), while the handover is the live one; the creating
-- client is the record's. A pending handover stays small (DESIGN.md: 300 bytes).
local HANDOVER_KINDS = {['1'] = 'secure_channel', ['2'] = 'phone'}

local function handover_id(hk)
  local tag, body = string.match(hk, '^v:{([^}]*)}:h:(.*)$')
  return (tag or '') .. '.' .. (body or '')
end

-- handover_offer returns the offer of handover hk as its record rec states it
-- (kind, expiry ms, channel), or nil when rec names another handover (or none).
local function handover_offer(rec, hk)
  local kind, id, exp, channel = string.match(redis.call('HGET', rec, 'ho') or '', '^(%d)|([^|]*)|(%d+)|(.*)$')
  if id ~= handover_id(hk) then
    return nil
  end
  return kind, tonumber(exp), channel
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
