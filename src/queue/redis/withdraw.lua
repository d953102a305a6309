--[[ Find out what became of an enqueue call whose answer was lost (a timeout, a dropped
     connection), and make sure it cannot take effect later: a call still buffered somewhere
     on its way to Redis would otherwise queue its postbacks after the sender was told they
     were not, and its retry queued them again.
     Input:  no KEYS; ARGV[1] prefix, ARGV[2] the call's first postback id, ARGV[3] how long
             (ms) to refuse a call starting with that id
     Output: 1 when that postback is queued (so the whole call was); 0 when it is not: an
             enqueue whose first id it is will be refused from now on. ]]
local p = ARGV[1]
if redis.call("HEXISTS", p .. ":i", ARGV[2]) == 1 then return 1 end
redis.call("SET", p .. ":w:" .. ARGV[2], "1", "PX", ARGV[3])
return 0
