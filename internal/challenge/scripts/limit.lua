-- limit: one send limit's cell (limit_cell.lua, prepended in Go), on its own key's
-- slot. KEYS[1] the cell or bucket; ARGV[1] now ms, ARGV[2] window ms, ARGV[3]
-- sends allowed, ARGV[4] the field in the bucket ('' for a string cell), ARGV[5] the
-- call's token (no ':'), ARGV[6] the replay window ms.
-- Returns {allowed 1|0, ms until a send would be allowed, counted 1|0}.
return limit_cell(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] or '',
  ARGV[5], tonumber(ARGV[6]))
