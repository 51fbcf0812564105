-- limit_cell: one send limit as a generic cell rate (GCRA, as go-redis/redis_rate does):
-- the cell holds the theoretical arrival time (ms). N sends fit in any window of
-- Per; after a burst of N, one more fits every Per/N. Self-contained (no prelude):
-- it runs on its own key's slot (or beside the other cells on one node), pipelined
-- beside the verification's own script.
-- A cell is either a string key of its own (few, busy cells: a client, an agent)
-- or a field of a bucket hash (one per destination or number prefix, so many that
-- a key each would cost more than the verification itself): the bucket keeps its
-- live cells and drops stale ones (TAT in the past) once it grows past 64 fields.
-- go-redis resends a script whose reply was lost. The tokens of the last calls
-- counted are kept (":<token>:<token>…", newest last): a string cell keeps its last
-- STRING_TOKENS after its time, a bucket the last BUCKET_TOKENS of all its cells in
-- its field '#' (a call counts in one cell of a bucket; a token in every cell would
-- cost each destination 12 bytes). A call whose token is there was counted already:
-- it answers as it did and counts nothing. unlimit.lua takes a call's send back
-- once, by the same token. A string cell lives at least the replay window, so that
-- a replay finds its token even once the cell has drained (a busy client's cell
-- drains in 100 ms; there are few such keys). A bucket and its tokens expire once
-- all its cells have drained, as its memory is paid per destination: a replay
-- later still counts again, for one emission (Per/N, 12 min for a destination's
-- default).
-- limit_cell(key, now, period, n, field, token, replay) counts one send in the cell
-- or bucket key: now ms, the window ms, the sends allowed, the field in the bucket
-- ('' for a string cell), the call's token (no ':'), the replay window ms.
-- It returns {allowed 1|0, ms until a send would be allowed, counted 1|0}.
-- limit.lua runs one cell; limits.lua runs several in one script run where every
-- key is on one node (standalone and Sentinel).
local STRING_TOKENS, BUCKET_TOKENS = 32, 8
local function limit_cell(key, now, period, n, field, token, replay)
  local emission = period / n
  local v, tokens
  if field == '' then
    v = redis.call('GET', key)
    tokens = v and string.match(v, '^%d+(.*)$') or ''
  else
    v = redis.call('HGET', key, field)
    tokens = redis.call('HGET', key, '#') or ''
  end
  if string.find(tokens .. ':', ':' .. token .. ':', 1, true) then
    return {1, 0, 1}
  end
  local tat = v and tonumber(string.match(v, '^%d+')) or 0
  if tat < now then
    tat = now
  end
  local next_tat = tat + emission
  local allow_at = next_tat - period
  if allow_at > now then
    return {0, math.ceil(allow_at - now), 0}
  end

  -- with_token is the newest keep - 1 tokens and this call's (tokens is ':t1:t2…:tn'
  -- or ''). The oldest are cut off the front with the string functions, not split
  -- into a table: a busy client's cell holds 32 tokens and changes on every send.
  local function with_token(keep)
    local _, n = string.gsub(tokens, ':', '')
    local cut = 1
    for _ = 1, n - keep + 1 do
      cut = string.find(tokens, ':', cut + 1, true)
    end
    return string.sub(tokens, cut) .. ':' .. token
  end

  local value, ttl = string.format('%.0f', next_tat), math.ceil(next_tat - now)
  if field == '' then
    redis.call('SET', key, value .. with_token(STRING_TOKENS), 'PX', math.max(ttl, replay))
    return {1, 0, 1}
  end
  if redis.call('HLEN', key) > 64 then
    local all = redis.call('HGETALL', key)
    for i = 1, #all, 2 do
      if all[i] ~= '#' and tonumber(all[i + 1]) < now then
        redis.call('HDEL', key, all[i])
      end
    end
  end
  redis.call('HSET', key, field, value, '#', with_token(BUCKET_TOKENS))
  if redis.call('PTTL', key) < ttl then
    redis.call('PEXPIRE', key, ttl)
  end
  return {1, 0, 1}
end
