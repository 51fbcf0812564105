-- abort: undo a start that a send limit refused, before anything was sent.
-- KEYS[1] record, KEYS[2] identity hash; ARGV[3] identity hash IH, ARGV[4] the
-- start's time as recorded in the identity's send log.
-- Only a record still at its first, unsent claim is removed.
local rec = KEYS[1]
local st, sq, dl = unpack(redis.call('HMGET', rec, 'st', 'sq', 'dl'))
if st ~= '1' or sq ~= '1' or dl ~= '2' then
  return 0
end
local ct = record_tag(rec)
redis.call('DEL', rec)
unsend(KEYS[2], ARGV[3], ct, tonumber(ARGV[4]))
return 1
