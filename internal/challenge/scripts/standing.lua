-- standing: tell whether the assertion of verification KEYS[1] is still in force by
-- its record (prelude: stands), and what the caller needs to check the rest: the
-- record's creation time (an assertion's jti is bound to it, so a record made again
-- after a data loss never brings an old assertion back) and its client. Read only.
-- Returns {'stands' | 'revoked', created ms, client}.
local rec = KEYS[1]
if redis.call('EXISTS', rec) == 0 then
  return {'revoked', '', ''}
end
local cl = redis.call('HGET', rec, 'cl') or ''
local created = string.format('%.0f', created_at(rec))
if stands(rec) then
  return {'stands', created, cl}
end
return {'revoked', created, cl}
