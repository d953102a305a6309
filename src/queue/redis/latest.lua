--[[ The members of the newest entries not held, for listings and counts by destination (Redis
     keeps no index by destination).
     Input:  no KEYS; ARGV[1] prefix, ARGV[2] limit
     Output: up to limit members, newest (last enqueued) first: from P:q and up to limit lanes
             of P:lanes, each lane's limit due latest, and from up to limit lines with entries
             behind their head (P:ol, picked at random when there are more), each line's limit
             last. Stops taking once it holds 4 × limit, so the answer is exact whenever fewer
             than limit entries are queued, and bounded however many are. ]]
local p = ARGV[1]
local limit = tonumber(ARGV[2])
local budget = 4 * limit
local found = {}
local function take(list)
  for _, m in ipairs(list) do found[#found + 1] = m end
end
take(redis.call("ZREVRANGE", p .. ":q", 0, limit - 1))
for _, lane in ipairs(redis.call("ZRANGE", p .. ":lanes", 0, limit - 1)) do
  if #found >= budget then break end
  take(redis.call("ZREVRANGE", p .. ":q:" .. lane, 0, limit - 1))
end
for _, key in ipairs(redis.call("SRANDMEMBER", p .. ":ol", limit)) do
  if #found >= budget then break end
  local line = lineKey(p, key)
  -- Its head is in a lane or held: only those behind it.
  take(redis.call("LRANGE", line, math.max(1, redis.call("LLEN", line) - limit), -1))
end
-- Members compare in enqueue order byte by byte (helpers.lua, b36).
table.sort(found, function(a, b) return a > b end)
local out = {}
for k = 1, math.min(limit, #found) do out[k] = found[k] end
return out
