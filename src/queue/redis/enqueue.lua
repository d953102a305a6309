--[[ Add one ingest request's postbacks (a batch) to the queue.
     Input:  no KEYS (key names are built from the prefix, ARGV[1]);
             ARGV[1] prefix;
             ARGV[2] createdAt, for resends followed by ":" and each entry's attempts made
                     before, ","-joined;
             ARGV[3] endpointId; ARGV[4] endpoint JSON ("" when the caller believes Redis has it);
             ARGV[5] the ids' common prefix; ARGV[6] each id's suffix, "\n"-joined;
             ARGV[7..] the data objects, one per id.
     Output: the number of entries queued; {-1, id} when an id repeats within the batch or is
             already queued; {-2} when the endpoint JSON was left out and Redis does not have
             it. Nothing is queued on a negative reply. Publishes P:wake when the batch is due
             sooner than anything queued. ]]
local p = ARGV[1]
local createdAtText = ARGV[2]
local before = {}
local colon = string.find(createdAtText, ":", 1, true)
if colon then
  for a in string.gmatch(string.sub(createdAtText, colon + 1), "[^,]+") do before[#before + 1] = a end
  createdAtText = string.sub(createdAtText, 1, colon - 1)
end
local createdAt = tonumber(createdAtText)
local n = #ARGV - 6
local ids = {}
for s in string.gmatch(ARGV[6] .. "\n", "([^\n]*)\n") do ids[#ids + 1] = ARGV[5] .. s end
if #ids ~= n then return redis.error_reply("ERR ferry enqueue: " .. #ids .. " ids for " .. n .. " data objects") end
if colon and #before ~= n then return redis.error_reply("ERR ferry enqueue: " .. #before .. " attempt counts for " .. n .. " data objects") end
local seen = {}
for j = 1, n do
  if seen[ids[j]] or redis.call("HEXISTS", p .. ":i", ids[j]) == 1 then return {-1, ids[j]} end
  seen[ids[j]] = true
end
local ep = p .. ":e:" .. ARGV[3]
if ARGV[4] == "" then
  if redis.call("EXISTS", ep) == 0 then return {-2} end
else
  redis.call("HSETNX", ep, "j", ARGV[4])
end
redis.call("HINCRBY", ep, "n", 1)
redis.call("PERSIST", ep)
local first = redis.call("ZRANGE", p .. ":q", 0, 0, "WITHSCORES")
local batch = b36(redis.call("INCR", p .. ":seq"))
redis.call("HSET", p .. ":b", batch, createdAtText .. "\n" .. ARGV[3] .. "\n" .. ARGV[5] .. "\n" .. ARGV[6])
redis.call("HSET", p .. ":r", batch, n)
for j = 1, n do
  local m = batch .. b36(j - 1)
  redis.call("HSET", p .. ":i", ids[j], m)
  redis.call("HSET", p .. ":d", m, ARGV[6 + j])
  redis.call("HSET", p .. ":m", m, (before[j] or "0") .. ",0," .. ids[j])
  redis.call("ZADD", p .. ":q", createdAt, m)
end
if first[2] == nil or tonumber(first[2]) > createdAt then redis.call("PUBLISH", p .. ":wake", "1") end
return n
