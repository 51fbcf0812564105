-- unlimit: take back a send that was counted but never made (a refused or repeated
-- start). KEYS[1] the cell; ARGV[1] now ms, ARGV[2] window ms, ARGV[3] sends allowed.
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = tonumber(ARGV[1])
if tat <= now then
  return 0
end
local back = tat - tonumber(ARGV[2]) / tonumber(ARGV[3])
if back <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%.0f', back), 'PX', math.ceil(back - now))
end
return 1
