--[[ Lease entries due now, shared fairly among lanes (accounts), oldest due first within each;
     each reservation counts as an attempt.
     Input:  no KEYS (key names are built from the prefix, ARGV[1]);
             ARGV[1] prefix, ARGV[2] now, ARGV[3] leaseEnd, ARGV[4] max (all ms / counts)
     Output: one string per entry, oldest due first: "member,attempts,lease,data"; then, when
             any, one string "batch:createdAt,…" for the batches named, so a worker can tell a
             cached batch record from a new one that got the same number (a failover to a
             lagging replica, a restore). Leases become odd while reserved.
     Fairness: the lanes with something due are taken least recently served first (P:turn;
     P:q, the lane of entries without an account, at its own turn from P:ls), at most max of
     them, and max is shared among them evenly: each gets ceil(left / lanes left); what a lane
     lacks goes to the lanes after it, and lanes that filled their share are asked again while
     room is left. Every lane served has P:ls set to now, so it goes behind the lanes that
     were not: with more due lanes than max, the next reservation serves the others. ]]
local p = ARGV[1]
local now = tonumber(ARGV[2])
local max = tonumber(ARGV[4])
local lanes = {}
local found = redis.call("ZRANGEBYSCORE", p .. ":turn", "-inf", ARGV[2], "WITHSCORES", "LIMIT", 0, max)
for k = 1, #found, 2 do lanes[#lanes + 1] = { name = found[k], turn = tonumber(found[k + 1]) } end
local legacy = redis.call("ZRANGE", p .. ":q", 0, 0, "WITHSCORES")[2]
if legacy and tonumber(legacy) <= now then
  local turn = math.max(tonumber(legacy), tonumber(redis.call("HGET", p .. ":ls", "") or "0"))
  local at = #lanes + 1
  for k, l in ipairs(lanes) do
    if turn < l.turn then
      at = k
      break
    end
  end
  table.insert(lanes, at, { name = "", turn = turn })
  if #lanes > max then lanes[#lanes] = nil end
end

local picked = {}
local sources = 0
local left = max
local asking = lanes
while left > 0 and #asking > 0 do
  local again = {}
  for k, l in ipairs(asking) do
    local share = math.ceil(left / (#asking - k + 1))
    local q = laneKey(p, l.name)
    local got = redis.call("ZRANGEBYSCORE", q, "-inf", ARGV[2], "WITHSCORES", "LIMIT", 0, share)
    if #got > 0 then sources = sources + 1 end
    local leased = {}
    for g = 1, #got, 2 do
      picked[#picked + 1] = { m = got[g], due = tonumber(got[g + 1]) }
      leased[#leased + 1] = ARGV[3]
      leased[#leased + 1] = got[g]
    end
    -- Leased at once (one ZADD for the lane's share), so the next round does not find them due again.
    if #leased > 0 then callMany("ZADD", q, leased) end
    left = left - #got / 2
    if #got / 2 == share then again[#again + 1] = l end
    if left <= 0 then break end
  end
  asking = again
end
for _, l in ipairs(lanes) do
  redis.call("HSET", p .. ":ls", l.name, ARGV[2])
  touchLane(p, l.name)
end
-- Across lanes too, the reply lists the oldest due first (one lane's are in order already).
if sources > 1 then
  table.sort(picked, function(a, b)
    if a.due ~= b.due then return a.due < b.due end
    return a.m < b.m
  end)
end

local out = {}
local batches = {}
local seen = {}
local members = {}
for i, e in ipairs(picked) do members[i] = e.m end
-- Each entry's meta and data in one HMGET each, its new meta in one HSET, for the whole call.
local metas = hmgetMany(p .. ":m", members)
local data = hmgetMany(p .. ":d", members)
local updates = {}
for i, m in ipairs(members) do
  local batch = batchOf(m)
  if not seen[batch] then
    seen[batch] = true
    local record = redis.call("HGET", p .. ":b", batch)
    batches[#batches + 1] = batch .. ":" .. string.sub(record, 1, string.find(record, "\n", 1, true) - 1)
  end
  local meta = metas[i]
  local c1 = string.find(meta, ",", 1, true)
  local c2 = string.find(meta, ",", c1 + 1, true)
  local attempts = tonumber(string.sub(meta, 1, c1 - 1)) + 1
  -- The next odd lease: odd while reserved.
  local lease = tonumber(string.sub(meta, c1 + 1, c2 - 1))
  lease = lease + 1 + lease % 2
  updates[#updates + 1] = m
  updates[#updates + 1] = attempts .. "," .. lease .. string.sub(meta, c2)
  out[i] = m .. "," .. attempts .. "," .. lease .. "," .. data[i]
end
if #updates > 0 then callMany("HSET", p .. ":m", updates) end
if #out > 0 then out[#out + 1] = table.concat(batches, ",") end
return out
