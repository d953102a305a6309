--[[ Settle reserved entries: done, retry, release or hold, in one call.
     Input:  no KEYS (key names are built from the prefix, ARGV[1]);
             ARGV[1] prefix; ARGV[2..] up to four groups, each a kind ("d" done, "r" retry,
             "l" release, "h" hold) followed by its entries joined by ";": "member,lease"
             (done), "member,lease,at" (retry, release) or "member,lease,destinationId" (hold).
     Output: how many entries still had their lease (their lease was current). A settle whose
             lease is no longer the entry's changes nothing. Retry, release and hold end the
             lease; release and hold give the attempt back; hold moves the member from its lane
             to P:h:<destinationId>; a line's head that is retried, released or held stays its
             head, so the line waits. Done removes the entry, its batch record with its last
             entry, and lets an unused endpoint expire after a day; when the entry headed a line,
             the next entry of the line goes into its lane, due at its own time (its batch's
             createdAt: at once, unless that is later), and P:wake is published. ]]
local p = ARGV[1]
local held = 0
local lanes = {}
local touched = {}
local advanced = false
-- The entry after a line's head that is done becomes its head: due in its lane.
local function advance(m)
  local key = redis.call("HGET", p .. ":k", m)
  if not key then return end
  redis.call("HDEL", p .. ":k", m)
  local line = lineKey(p, key)
  if redis.call("LINDEX", line, 0) ~= m then
    -- Not the head (cannot happen while the lease rules hold): leave the head as it is.
    redis.call("LREM", line, 1, m)
    return
  end
  redis.call("LPOP", line)
  local nextM = redis.call("LINDEX", line, 0)
  if not nextM then return end
  if redis.call("LLEN", line) < 2 then redis.call("SREM", p .. ":ol", key) end
  local lane = laneOf(p, nextM, lanes)
  redis.call("ZADD", laneKey(p, lane), createdAtOf(p, nextM), nextM)
  touched[lane] = true
  advanced = true
end
-- Done entries are removed in one variadic call per hash and lane (rather than four calls per
-- entry), and their batches' counts lowered once per batch, after every item is read.
local doneMembers = {}
local doneIds = {}
local doneByLane = {}
local doneByBatch = {}
local seen = {}
local function settle(kind, m, lease, at, meta)
  -- Once settled in this call, an entry's lease is no longer the one named: a repeat is stale.
  if not meta or seen[m] then return end
  local a1 = string.find(meta, ",", 1, true)
  local a2 = string.find(meta, ",", a1 + 1, true)
  if string.sub(meta, a1 + 1, a2 - 1) ~= lease then return end
  seen[m] = true
  held = held + 1
  local lane, lined = laneOf(p, m, lanes)
  touched[lane] = true
  local q = laneKey(p, lane)
  if kind ~= "d" then
    if kind == "h" then
      -- Parked out of its lane (never due) until unhold names the destination (here in "at").
      redis.call("ZREM", q, m)
      redis.call("SADD", p .. ":h:" .. at, m)
      redis.call("SADD", p .. ":hd", at)
    else
      redis.call("ZADD", q, at, m)
    end
    local attempts = tonumber(string.sub(meta, 1, a1 - 1))
    if kind ~= "r" then attempts = attempts - 1 end
    -- The lease ends here (the next even number): a second settle of the same reservation
    -- finds it stale.
    local l = tonumber(lease)
    redis.call("HSET", p .. ":m", m, attempts .. "," .. (l + 2 - l % 2) .. string.sub(meta, a2))
    return
  end
  doneMembers[#doneMembers + 1] = m
  doneIds[#doneIds + 1] = string.sub(meta, a2 + 1)
  local inLane = doneByLane[q]
  if not inLane then
    inLane = {}
    doneByLane[q] = inLane
  end
  inLane[#inLane + 1] = m
  local batch = batchOf(m)
  doneByBatch[batch] = (doneByBatch[batch] or 0) + 1
  if lined then advance(m) end
end
-- Every item's member, lease and the rest, then every meta in one HMGET.
local items = {}
for i = 2, #ARGV do
  local kind = string.sub(ARGV[i], 1, 1)
  for item in string.gmatch(string.sub(ARGV[i], 2), "[^;]+") do
    local c1 = string.find(item, ",", 1, true)
    local c2 = string.find(item, ",", c1 + 1, true)
    if c2 then
      items[#items + 1] = { kind, string.sub(item, 1, c1 - 1), string.sub(item, c1 + 1, c2 - 1), string.sub(item, c2 + 1) }
    else
      items[#items + 1] = { kind, string.sub(item, 1, c1 - 1), string.sub(item, c1 + 1), nil }
    end
  end
end
local members = {}
for k, item in ipairs(items) do members[k] = item[2] end
local metas = {}
if #members > 0 then metas = hmgetMany(p .. ":m", members) end
for k, item in ipairs(items) do settle(item[1], item[2], item[3], item[4], metas[k] or nil) end
if #doneMembers > 0 then
  for q, ms in pairs(doneByLane) do callMany("ZREM", q, ms) end
  callMany("HDEL", p .. ":d", doneMembers)
  callMany("HDEL", p .. ":m", doneMembers)
  callMany("HDEL", p .. ":i", doneIds)
end
for batch, n in pairs(doneByBatch) do
  if redis.call("HINCRBY", p .. ":r", batch, -n) <= 0 then
    local record = redis.call("HGET", p .. ":b", batch)
    redis.call("HDEL", p .. ":r", batch)
    redis.call("HDEL", p .. ":b", batch)
    redis.call("HDEL", p .. ":bl", batch)
    if record then
      local e1 = string.find(record, "\n", 1, true)
      local e2 = string.find(record, "\n", e1 + 1, true)
      local ep = p .. ":e:" .. string.sub(record, e1 + 1, e2 - 1)
      -- Unused endpoints linger a day, so the API can keep leaving their JSON out.
      if redis.call("HINCRBY", ep, "n", -1) <= 0 then redis.call("EXPIRE", ep, 86400) end
    end
  end
end
for lane in pairs(touched) do touchLane(p, lane) end
if advanced then redis.call("PUBLISH", p .. ":wake", "1") end
return held
