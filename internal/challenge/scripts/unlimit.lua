-- unlimit: take back a send that was counted but never made (a refused or repeated
-- start). KEYS[1] the cell or bucket; ARGV[1] now ms, ARGV[2] window ms, ARGV[3]
-- sends allowed, ARGV[4] the field in the bucket ('' for a string cell).
local field = ARGV[4] or ''
local tat
if field == '' then
  tat = tonumber(redis.call('GET', KEYS[1]) or '0')
else
  tat = tonumber(redis.call('HGET', KEYS[1], field) or '0')
end
local now = tonumber(ARGV[1])
if tat <= now then
  return 0
end
local back = tat - tonumber(ARGV[2]) / tonumber(ARGV[3])
if field == '' then
  if back <= now then
    redis.call('DEL', KEYS[1])
  else
    redis.call('SET', KEYS[1], string.format('%.0f', back), 'PX', math.ceil(back - now))
  end
elseif back <= now then
  redis.call('HDEL', KEYS[1], field)
else
  redis.call('HSET', KEYS[1], field, string.format('%.0f', back))
end
return 1
