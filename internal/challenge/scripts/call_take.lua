-- call_take: reserve a phone handover's call code in the phone client's index
-- (handover.go). KEYS[1] this window's index, KEYS[2] the previous window's (one
-- slot: the phone client's tag). ARGV[1] the code's keyed hash, [2] the handover id,
-- [3] the index's TTL (ms). A code lives less than a window, so a live code is in
-- one of the two. Returns 1 when the code is the handover's (reserved now, or by a
-- retried create of the same handover, which call_point may have completed with
-- its conversation's pointer: "<id>|…"), 0 when another handover holds it (draw
-- another) or it was consumed already.
for i = 1, 2 do
  local v = redis.call('HGET', KEYS[i], ARGV[1])
  if v then
    return (v == ARGV[2] or string.sub(v, 1, #ARGV[2] + 1) == ARGV[2] .. '|') and 1 or 0
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
