-- erase_trail: delete, from one audit stream, the entries that name one of the
-- customer's identities by its keyed identity hash: the events of verifications that
-- named no customer ('i' is then the identity hash, not a pseudonym under the
-- customer's key, so deleting the key would not make them unlinkable). Other entries
-- are left alone. One call reads at most ARGV[2] entries after ARGV[1]; Go calls it
-- again from the id it returns until the stream is read to its end. Audited (see
-- audit.go); the stream it purges is its audit stream too.
-- If an entry to delete is the stream's newest, an erased event is appended first,
-- so that the newest entry stays the stream's last id and audit_event's ids remain
-- monotonic after the deletion.
-- KEYS[1] the stream. ARGV[1] read after this id ('-' from the start), ARGV[2] count,
-- ARGV[3] now ms, ARGV[4] the client, ARGV[5] the identity hashes, comma-separated.
-- Returns {entries read, the last id read, entries deleted}.
local names = {}
for ih in string.gmatch(ARGV[5], '[^,]+') do
  names[ih] = true
end
local from = ARGV[1]
if from ~= '-' then
  from = '(' .. from
end
local entries = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', ARGV[2])
local gone = {}
for _, e in ipairs(entries) do
  local f = e[2]
  for i = 1, #f, 2 do
    if f[i] == 'i' and names[f[i + 1]] then
      gone[#gone + 1] = e[1]
      break
    end
  end
end
local last = ''
if #entries > 0 then
  last = entries[#entries][1]
end
if #gone > 0 then
  local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
  for _, id in ipairs(gone) do
    if top and top[1] == id then
      audit(ARGV[3], {'k', 'erased', 'c', ARGV[4], 'o', 'audit_entries'})
      break
    end
  end
  redis.call('XDEL', KEYS[1], unpack(gone))
end
return {#entries, last, #gone}
