-- abort: undo a start that a send limit refused, before anything was sent.
-- KEYS[1] record, KEYS[2] identity hash; ARGV[3] identity hash IH, ARGV[4] the
-- start's time as recorded in the identity's send log.
-- Only a record still at its first, unsent claim is removed.
local rec = KEYS[1]
local st, sq, dl = unpack(redis.call('HMGET', rec, 'st', 'sq', 'dl'))
if st ~= '1' or sq ~= '1' or dl ~= '2' then
  return 0
end
redis.call('DEL', rec)
local f = ARGV[3] .. 's'
local log = redis.call('HGET', KEYS[2], f)
if log then
  local kept, dropped = {}, false
  for t in string.gmatch(log, '%d+') do
    if t == ARGV[4] and not dropped then
      dropped = true
    else
      kept[#kept + 1] = t
    end
  end
  if #kept == 0 then
    redis.call('HDEL', KEYS[2], f)
  else
    redis.call('HSET', KEYS[2], f, table.concat(kept, ','))
  end
end
return 1
