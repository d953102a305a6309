--[[ Look up a queued postback by its id.
     Input:  no KEYS (key names are built from the prefix, ARGV[1]);
             ARGV[1] prefix, ARGV[2] postbackId
     Output: nil when it is not queued, else {meta, data, dueAt, batchRecord, endpointJson,
             blocked}: meta is "attempts,lease,postbackId"; dueAt is nil while the entry is held
             or waits behind its line's head (it has no time of its own), and blocked is 1 in
             the second case, else 0. ]]
local p = ARGV[1]
local m = redis.call("HGET", p .. ":i", ARGV[2])
if not m then return nil end
local record = redis.call("HGET", p .. ":b", batchOf(m))
local e1 = string.find(record, "\n", 1, true)
local e2 = string.find(record, "\n", e1 + 1, true)
local due = redis.call("ZSCORE", laneKey(p, laneOf(p, m, {})), m)
local blocked = 0
if not due then
  local key = redis.call("HGET", p .. ":k", m)
  if key and redis.call("LINDEX", lineKey(p, key), 0) ~= m then blocked = 1 end
end
return {
  redis.call("HGET", p .. ":m", m),
  redis.call("HGET", p .. ":d", m),
  due,
  record,
  redis.call("HGET", p .. ":e:" .. string.sub(record, e1 + 1, e2 - 1), "j"),
  blocked,
}
