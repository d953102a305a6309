--[[ Lease the entries due now, oldest due first; each reservation counts as an attempt.
     Input:  no KEYS (key names are built from the prefix, ARGV[1]);
             ARGV[1] prefix, ARGV[2] now, ARGV[3] leaseEnd, ARGV[4] max (all ms / counts)
     Output: one string per entry, "member,attempts,lease,data"; then, when any, one string
             "batch:createdAt,…" for the batches named, so a worker can tell a cached batch
             record from a new one that got the same number (a failover to a lagging replica,
             a restore). Leases become odd while reserved. ]]
local p = ARGV[1]
local members = redis.call("ZRANGEBYSCORE", p .. ":q", "-inf", ARGV[2], "LIMIT", 0, tonumber(ARGV[4]))
local out = {}
local batches = {}
local seen = {}
for i, m in ipairs(members) do
  local batch = batchOf(m)
  if not seen[batch] then
    seen[batch] = true
    local record = redis.call("HGET", p .. ":b", batch)
    batches[#batches + 1] = batch .. ":" .. string.sub(record, 1, string.find(record, "\n", 1, true) - 1)
  end
  local meta = redis.call("HGET", p .. ":m", m)
  local c1 = string.find(meta, ",", 1, true)
  local c2 = string.find(meta, ",", c1 + 1, true)
  local attempts = tonumber(string.sub(meta, 1, c1 - 1)) + 1
  -- The next odd lease: odd while reserved.
  local lease = tonumber(string.sub(meta, c1 + 1, c2 - 1))
  lease = lease + 1 + lease % 2
  redis.call("HSET", p .. ":m", m, attempts .. "," .. lease .. string.sub(meta, c2))
  redis.call("ZADD", p .. ":q", ARGV[3], m)
  out[i] = m .. "," .. attempts .. "," .. lease .. "," .. redis.call("HGET", p .. ":d", m)
end
if #out > 0 then out[#out + 1] = table.concat(batches, ",") end
return out
