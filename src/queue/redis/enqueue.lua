--[[ Add one or several batches (the postbacks of an ingest request, or of a fan-out) to the
     queue, all or none.
     Input:  no KEYS (key names are built from the prefix, ARGV[1]);
             ARGV[1] prefix; then per batch, one after the other:
               createdAt, for resends followed by ":" and each entry's attempts made before,
                 ","-joined; prefixed with "o" when order keys follow the data objects;
               endpointId; endpoint JSON ("" when the caller believes Redis has it, or another
                 batch of this call carries it);
               the ids' common prefix; each id's suffix, "\n"-joined (n suffixes);
               the n data objects, one per id;
               with "o": the n order keys, one per id ("" for an entry in no line).
             A batch without "o" is exactly ferry_v2's enqueue arguments.
     Output: the number of entries queued; {-1, id} when an id repeats within or across the
             batches or is already queued, or the call was withdrawn (withdraw.lua: its first
             id is marked); {-2} when an endpoint JSON was left out and Redis does not have it.
             Nothing is queued on a negative reply. Each entry goes into its account's lane
             (the endpoint's accountId; P:q without one); an entry with an order key joins the
             end of its line P:o:<key> and is due only if it is the line's head. Publishes P:wake
             when a batch is due sooner than anything queued. ]]
local p = ARGV[1]
-- Read and check every batch before writing anything: the call is all or none.
local batches = {}
local seen = {}
local carried = {}
local i = 2
while i <= #ARGV do
  local createdAtText = ARGV[i]
  local ordered = string.sub(createdAtText, 1, 1) == "o"
  if ordered then createdAtText = string.sub(createdAtText, 2) end
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
  local width = n
  if ordered then width = 2 * n end
  if i + 4 + width > #ARGV then return redis.error_reply("ERR ferry enqueue: " .. n .. " ids for " .. (#ARGV - i - 4) .. " data objects and order keys") end
  if colon and #before ~= n then return redis.error_reply("ERR ferry enqueue: " .. #before .. " attempt counts for " .. n .. " data objects") end
  -- Queued already: one HMGET for the batch's ids.
  local queued = hmgetMany(p .. ":i", ids)
  for j = 1, n do
    if seen[ids[j]] or queued[j] then return {-1, ids[j]} end
    seen[ids[j]] = true
  end
  if ARGV[i + 2] ~= "" then carried[ARGV[i + 1]] = ARGV[i + 2] end
  batches[#batches + 1] = { at = i, createdAtText = createdAtText, createdAt = tonumber(createdAtText), before = before, ids = ids, ordered = ordered }
  i = i + 5 + width
end
if #batches == 0 then return 0 end
-- A call withdrawn after its caller lost the answer must not take effect now.
local firstId = batches[1].ids[1]
if redis.call("EXISTS", p .. ":w:" .. firstId) == 1 then return {-1, firstId} end
-- Each endpoint's lane: its accountId, read from the JSON this call carries or Redis keeps.
local lanes = {}
for _, b in ipairs(batches) do
  local endpointId = ARGV[b.at + 1]
  if lanes[endpointId] == nil then
    local json = carried[endpointId] or redis.call("HGET", p .. ":e:" .. endpointId, "j")
    if not json then return {-2} end
    local account = cjson.decode(json)[5]
    if type(account) == "string" then lanes[endpointId] = account else lanes[endpointId] = "" end
  end
end

local first = firstDue(p)
local earliest = nil
local touched = {}
local total = 0
for _, b in ipairs(batches) do
  local at = b.at
  local ep = p .. ":e:" .. ARGV[at + 1]
  if ARGV[at + 2] ~= "" then redis.call("HSETNX", ep, "j", ARGV[at + 2]) end
  redis.call("HINCRBY", ep, "n", 1)
  redis.call("PERSIST", ep)
  local batch = b36(redis.call("INCR", p .. ":seq"))
  local n = #b.ids
  local lane = lanes[ARGV[at + 1]]
  local q = laneKey(p, lane)
  redis.call("HSET", p .. ":b", batch, b.createdAtText .. "\n" .. ARGV[at + 1] .. "\n" .. ARGV[at + 3] .. "\n" .. ARGV[at + 4])
  redis.call("HSET", p .. ":r", batch, n)
  if lane ~= "" then touched[lane] = true end
  local lined = false
  -- The batch's fields of P:i, P:d and P:m, and its due members, each in one variadic call.
  local index, data, meta, due = {}, {}, {}, {}
  for j = 1, n do
    local m = batch .. b36(j - 1)
    index[2 * j - 1] = b.ids[j]
    index[2 * j] = m
    data[2 * j - 1] = m
    data[2 * j] = ARGV[at + 4 + j]
    meta[2 * j - 1] = m
    meta[2 * j] = (b.before[j] or "0") .. "," .. "0," .. b.ids[j]
    local head = true
    if b.ordered and ARGV[at + 4 + n + j] ~= "" then
      local key = ARGV[at + 4 + n + j]
      redis.call("HSET", p .. ":k", m, key)
      lined = true
      local length = redis.call("RPUSH", lineKey(p, key), m)
      head = length == 1
      -- P:ol lists the lines with entries behind their head, for listings.
      if length == 2 then redis.call("SADD", p .. ":ol", key) end
    end
    if head then
      due[#due + 1] = b.createdAtText
      due[#due + 1] = m
      if earliest == nil or b.createdAt < earliest then earliest = b.createdAt end
    end
  end
  callMany("HSET", p .. ":i", index)
  callMany("HSET", p .. ":d", data)
  callMany("HSET", p .. ":m", meta)
  if #due > 0 then callMany("ZADD", q, due) end
  -- The batch's lane, and "\n" when settle must look for its entries' lines (helpers.lua).
  if lined then
    redis.call("HSET", p .. ":bl", batch, lane .. "\n")
  elseif lane ~= "" then
    redis.call("HSET", p .. ":bl", batch, lane)
  end
  total = total + n
end
for lane in pairs(touched) do touchLane(p, lane) end
if earliest ~= nil and (first == nil or first > earliest) then redis.call("PUBLISH", p .. ":wake", "1") end
return total
