-- expire: make a due expiry durable and wake watchers. KEYS[1] record.
-- Returns 1 when the verification is expired, 0 otherwise.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if expire_if_due(KEYS[1]) then
  return 1
end
return 0
