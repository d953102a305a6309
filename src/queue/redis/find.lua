--[[ Look up a queued postback by its id.
     Input:  no KEYS (key names are built from the prefix, ARGV[1]);
             ARGV[1] prefix, ARGV[2] postbackId
     Output: nil when it is not queued, else {meta, data, dueAt, batchRecord, endpointJson}:
             meta is "attempts,lease,postbackId"; dueAt is nil while the entry is held, and its
             own due time (its batch's createdAt) while it waits behind its line's head. ]]
local p = ARGV[1]
local m = redis.call("HGET", p .. ":i", ARGV[2])
if not m then return nil end
local record = redis.call("HGET", p .. ":b", batchOf(m))
local e1 = string.find(record, "\n", 1, true)
local e2 = string.find(record, "\n", e1 + 1, true)
local due = redis.call("ZSCORE", laneKey(p, laneOf(p, m, {})), m)
if not due then
  local key = redis.call("HGET", p .. ":k", m)
  if key and redis.call("LINDEX", lineKey(p, key), 0) ~= m then due = string.sub(record, 1, e1 - 1) end
end
return {
  redis.call("HGET", p .. ":m", m),
  redis.call("HGET", p .. ":d", m),
  due,
  record,
  redis.call("HGET", p .. ":e:" .. string.sub(record, e1 + 1, e2 - 1), "j"),
}
