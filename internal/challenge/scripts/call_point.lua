-- call_point: complete the index entry of a call code that call_take reserved for
-- handover ARGV[2] with where its verification's conversation pointer is
-- (handover.go). KEYS[1] this window's index, KEYS[2] the previous window's.
-- ARGV[1] the code's keyed hash, [2] the handover id, [3] the entry:
-- "<handover id>|<pointer key>|<pointer field>". An entry that is another
-- handover's, or consumed already ("used|…"), is left as it is.
-- Returns 1 when the entry is the handover's, else 0.
for i = 1, 2 do
  local v = redis.call('HGET', KEYS[i], ARGV[1])
  if v then
    if v == ARGV[2] or string.sub(v, 1, #ARGV[2] + 1) == ARGV[2] .. '|' then
      redis.call('HSET', KEYS[i], ARGV[1], ARGV[3])
      return 1
    end
    return 0
  end
end
return 0
