--[[ Add one or several batches (the postbacks of an ingest request, or of a fan-out) to the
     queue, all or none.
     Input:  no KEYS (key names are built from the prefix, ARGV[1]);
             ARGV[1] prefix; then per batch, one after the other:
               createdAt, for resends followed by ":" and each entry's attempts made before,
                 ","-joined;
               endpointId; endpoint JSON ("" when the caller believes Redis has it, or another
                 batch of this call carries it);
               the ids' common prefix; each id's suffix, "\n"-joined (n suffixes);
               the n data objects, one per id.
             One batch is exactly ferry_v2's enqueue arguments.
     Output: the number of entries queued; {-1, id} when an id repeats within or across the
             batches or is already queued, or the call was withdrawn (withdraw.lua: its first
             id is marked); {-2} when an endpoint JSON was left out and Redis does not have it. Nothing is queued on a negative reply. Publishes P:wake when a
             batch is due sooner than anything queued. ]]
local p = ARGV[1]
-- Read and check every batch before writing anything: the call is all or none.
local batches = {}
local seen = {}
local carried = {}
local i = 2
while i <= #ARGV do
  local createdAtText = ARGV[i]
  local before = {}
  local colon = string.find(createdAtText, ":", 1, true)
  if colon then
    for a in string.gmatch(string.sub(createdAtText, colon + 1), "[^,]+") do before[#before + 1] = a end
    createdAtText = string.sub(createdAtText, 1, colon - 1)
  end
  if i + 4 > #ARGV then return redis.error_reply("ERR ferry enqueue: a batch without its ids") end
  local ids = {}
  for s in string.gmatch(ARGV[i + 4] .. "\n", "([^\n]*)\n") do ids[#ids + 1] = ARGV[i + 3] .. s end
  local n = #ids
  if i + 4 + n > #ARGV then return redis.error_reply("ERR ferry enqueue: " .. n .. " ids for " .. (#ARGV - i - 4) .. " data objects") end
  if colon and #before ~= n then return redis.error_reply("ERR ferry enqueue: " .. #before .. " attempt counts for " .. n .. " data objects") end
  for j = 1, n do
    if seen[ids[j]] or redis.call("HEXISTS", p .. ":i", ids[j]) == 1 then return {-1, ids[j]} end
    seen[ids[j]] = true
  end
  if ARGV[i + 2] ~= "" then carried[ARGV[i + 1]] = true end
  batches[#batches + 1] = { at = i, createdAtText = createdAtText, createdAt = tonumber(createdAtText), before = before, ids = ids }
  i = i + 5 + n
end
if #batches == 0 then return 0 end
-- A call withdrawn after its caller lost the answer must not take effect now.
local firstId = batches[1].ids[1]
if redis.call("EXISTS", p .. ":w:" .. firstId) == 1 then return {-1, firstId} end
for _, b in ipairs(batches) do
  local endpointId = ARGV[b.at + 1]
  if not carried[endpointId] and redis.call("EXISTS", p .. ":e:" .. endpointId) == 0 then return {-2} end
end

local first = redis.call("ZRANGE", p .. ":q", 0, 0, "WITHSCORES")
local earliest = batches[1].createdAt
local total = 0
for _, b in ipairs(batches) do
  local at = b.at
  local ep = p .. ":e:" .. ARGV[at + 1]
  if ARGV[at + 2] ~= "" then redis.call("HSETNX", ep, "j", ARGV[at + 2]) end
  redis.call("HINCRBY", ep, "n", 1)
  redis.call("PERSIST", ep)
  local batch = b36(redis.call("INCR", p .. ":seq"))
  local n = #b.ids
  redis.call("HSET", p .. ":b", batch, b.createdAtText .. "\n" .. ARGV[at + 1] .. "\n" .. ARGV[at + 3] .. "\n" .. ARGV[at + 4])
  redis.call("HSET", p .. ":r", batch, n)
  for j = 1, n do
    local m = batch .. b36(j - 1)
    redis.call("HSET", p .. ":i", b.ids[j], m)
    redis.call("HSET", p .. ":d", m, ARGV[at + 4 + j])
    redis.call("HSET", p .. ":m", m, (b.before[j] or "0") .. ",0," .. b.ids[j])
    redis.call("ZADD", p .. ":q", b.createdAt, m)
  end
  if b.createdAt < earliest then earliest = b.createdAt end
  total = total + n
end
if first[2] == nil or tonumber(first[2]) > earliest then redis.call("PUBLISH", p .. ":wake", "1") end
return total
