--[[ Settle reserved entries, then lease entries due now: settle.lua followed by reserve.lua in
     one call (one round trip and one atomic step per worker batch instead of two).
     Input:  no KEYS (key names are built from the prefix, ARGV[1]);
             ARGV[1] prefix, ARGV[2] now, ARGV[3] leaseEnd, ARGV[4] max (reserve's arguments);
             ARGV[5..] settle's groups (settle.lua), none when nothing is settled.
     Output: {settled, then reserve's reply}: how many settlements still had their lease (as
             settle answers), followed by reserve's strings (as reserve answers; nothing when
             max is 0 or nothing is due). The settle comes first, so an entry settled retry or
             release at or before now, or the next entry of a line whose head is done, can be
             reserved again by the same call. ]]
local settleArgs = { ARGV[1] }
for i = 5, #ARGV do settleArgs[#settleArgs + 1] = ARGV[i] end
local settled = 0
if #settleArgs > 1 then settled = fn_settle(settleArgs) end
local out = { settled }
if tonumber(ARGV[4]) > 0 then
  for _, s in ipairs(fn_reserve({ ARGV[1], ARGV[2], ARGV[3], ARGV[4] })) do out[#out + 1] = s end
end
return out
