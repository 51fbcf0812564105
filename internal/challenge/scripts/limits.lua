-- limits: several send limits' cells in one script run, where every key is on one
-- node (standalone and Sentinel): what one limit.lua run per cell would do, cell by
-- cell, in one command instead of one per cell. Each cell counts on its own, as
-- the separate runs did, so the answers are the same.
-- KEYS[i] the i-th cell or bucket; ARGV[6i-5 .. 6i] its arguments as limit.lua's
-- ARGV[1 .. 6].
-- Returns {{allowed, ms, counted} for each cell, in KEYS' order}.
local out = {}
for i = 1, #KEYS do
  local a = 6 * (i - 1)
  out[i] = limit_cell(KEYS[i], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]),
    ARGV[a + 4] or '', ARGV[a + 5], tonumber(ARGV[a + 6]))
end
return out
