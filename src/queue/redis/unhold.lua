--[[ Release every entry held for a destination (enabled again, or deleted).
     Input:  no KEYS (key names are built from the prefix, ARGV[1]);
             ARGV[1] prefix, ARGV[2] destinationId, ARGV[3] now
     Output: how many entries were held for it; each is due at now again (back in P:q),
             P:h:<destinationId> goes and the id leaves P:hd. Publishes P:wake when any. ]]
local p = ARGV[1]
local key = p .. ":h:" .. ARGV[2]
local members = redis.call("SMEMBERS", key)
local args = {}
for _, m in ipairs(members) do
  args[#args + 1] = ARGV[3]
  args[#args + 1] = m
  -- ZADD in slices: unpack of a huge table would overflow Lua's stack.
  if #args >= 1000 then
    redis.call("ZADD", p .. ":q", unpack(args))
    args = {}
  end
end
if #args > 0 then redis.call("ZADD", p .. ":q", unpack(args)) end
redis.call("DEL", key)
redis.call("SREM", p .. ":hd", ARGV[2])
if #members > 0 then redis.call("PUBLISH", p .. ":wake", "1") end
return #members
