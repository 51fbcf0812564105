-- read: what a factor completion needs, in one round trip: the record, the hash of
-- its customer and the pending passkey ceremony. Read only.
-- KEYS[1] record, KEYS[2] the record's passkey ceremony.
-- The customer's hash is "<the record's key prefix>c:<ck>": it carries the record's
-- own hash tag (a verification of a known customer lives under the customer's tag),
-- so it is on the same slot; its name is only known once 'ck' is read.
-- Returns {record fields (flat), customer fields (flat), ceremony or false}.
local rec = redis.call('HGETALL', KEYS[1])
local cust = {}
local ck = redis.call('HGET', KEYS[1], 'ck')
if ck and ck ~= '' then
  local prefix = string.match(KEYS[1], '^(v:{[^}]*}:)')
  cust = redis.call('HGETALL', prefix .. 'c:' .. ck)
end
return {rec, cust, redis.call('GET', KEYS[2])}
