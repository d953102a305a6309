--[[ Give a slot back before its lease ends.
     Input:  ARGV[1] prefix, ARGV[2] destination id, ARGV[3] lease name.
     Output: 1 if the lease was held, 0 if it had ended already (or was never granted). ]]
return redis.call("ZREM", ARGV[1] .. ":lim:c:" .. ARGV[2], ARGV[3])
