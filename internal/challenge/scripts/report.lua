-- report: "this wasn't me" from the customer page; ends a pending verification FAILED(REPORTED).
-- KEYS[1] record; ARGV[3] request field; ARGV[4] '1' when the customer says the
-- account talking to her is not the brand's (impersonation: audited with r=impersonation).
-- Returns {'reported'} | {'expired'} | {'state'} | {'gone'}.
local rec = KEYS[1]
local prior = answered(rec, ARGV[3])
if prior then
  return prior
end
if expire_if_due(rec) then
  return {'expired'}
end
if redis.call('HGET', rec, 'st') ~= '1' then
  return {'state'}
end
local extra = nil
if ARGV[4] == '1' then
  extra = {'r', 'impersonation'}
end
finish(rec, '3', '2', extra)
redis.call('HSET', rec, ARGV[3], cjson.encode({'reported'}))
return {'reported'}
