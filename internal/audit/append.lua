-- append writes one event for Writer (audit.lua is prepended).
-- KEYS[1] the stream. ARGV[1] now (ms), ARGV[2] the hard cap (ms), then the values of
-- k c a v m o r i u d in that order ('' for none).
local names = {'k', 'c', 'a', 'v', 'm', 'o', 'r', 'i', 'u', 'd'}
local fields = {}
for n, name in ipairs(names) do
  fields[2 * n - 1] = name
  fields[2 * n] = ARGV[n + 2]
end
return audit_event(KEYS[1], ARGV[1], ARGV[2], fields)
