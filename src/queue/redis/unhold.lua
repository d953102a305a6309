--[[ Release every entry held for a destination (enabled again, or deleted).
     Input:  no KEYS (key names are built from the prefix, ARGV[1]);
             ARGV[1] prefix, ARGV[2] destinationId, ARGV[3] now
     Output: how many entries were held for it; each is due at now again (back in its lane),
             P:h:<destinationId> goes and the id leaves P:hd. Publishes P:wake when any. A held
             line head goes back as its line's head: the entries behind it stay in line. ]]
local p = ARGV[1]
local key = p .. ":h:" .. ARGV[2]
local members = redis.call("SMEMBERS", key)
local lanes = {}
local pending = {}
local function flush(lane)
  -- ZADD in slices: unpack of a huge table would overflow Lua's stack.
  redis.call("ZADD", laneKey(p, lane), unpack(pending[lane]))
  pending[lane] = {}
end
for _, m in ipairs(members) do
  local lane = laneOf(p, m, lanes)
  local args = pending[lane] or {}
  pending[lane] = args
  args[#args + 1] = ARGV[3]
  args[#args + 1] = m
  if #args >= 1000 then flush(lane) end
end
for lane, args in pairs(pending) do
  if #args > 0 then flush(lane) end
  touchLane(p, lane)
end
redis.call("DEL", key)
redis.call("SREM", p .. ":hd", ARGV[2])
if #members > 0 then redis.call("PUBLISH", p .. ":wake", "1") end
return #members
