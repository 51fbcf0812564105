-- call_take: reserve a phone handover's call code in the phone client's index
-- (handover.go). KEYS[1] this window's index, KEYS[2] the previous window's (one
-- slot: the phone client's tag). ARGV[1] the code's keyed hash, [2] the handover id,
-- [3] the index's TTL (ms). A code lives less than a window, so a live code is in
-- one of the two. Returns 1, or 0 when the code is taken (draw another).
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 or redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
