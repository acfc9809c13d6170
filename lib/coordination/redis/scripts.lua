-- The Redis coordinator's scripts (its key layout is at the top of redis-coordinator.ts).
-- Each script starts at a line `--- <name>`; the build embeds this file (scripts/embed-assets.mjs).
-- A claimed or killed entry outlives the store's record by MARK_MARGIN_MS, so the mark keeps
-- requests off a record the store expires a little late (its TTL counts from its own write,
-- rounded up to whole seconds): more than a store call may take plus that rounding.

--- enter
-- A request starts using a session. KEYS: entry. ARGV: now, strict ('1' or '0').
-- Returns the entry's fields as they were (HMGET order), or nil when there is none.
local before = redis.call('HMGET', KEYS[1], 'accessed', 'deadline', 'store', 'active', 'claimed', 'killed')
if not before[1] then return false end
if before[5] == '1' then return before end
local active = tonumber(before[4] or '0')
if ARGV[2] == '1' and active == 0 then
  local deadline = tonumber(before[2] or '-1')
  if deadline >= 0 and deadline <= tonumber(ARGV[1]) then return before end
end
redis.call('HSET', KEYS[1], 'accessed', ARGV[1], 'active', active + 1)
return before

--- leave
-- A request stops using a session. KEYS: entry, expiry index, session index, the user's set.
-- ARGV: now, timeout ms ('' keep, '-1' never), store expiry ms ('' none), entered ('1'/'0'),
-- the request's start, the member (session key), principal ('' none), principal prefix,
-- top-level ('1'/'0'). Returns 2 to the last request of a killed session, else 0 or 1.
local now, timeout, store, entered, accessed, member = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local principal, principals, toplevel = ARGV[7], ARGV[8], ARGV[9]
local e = redis.call('HMGET', KEYS[1], 'accessed', 'claimed', 'active', 'store', 'killed', 'principal')
if not e[1] then
  if entered == '1' then return 0 end
  e = { accessed, false, '1', false, false, false }
  redis.call('HSET', KEYS[1], 'accessed', accessed, 'deadline', -1)
  if toplevel == '1' then redis.call('ZADD', KEYS[3], 0, member) end
elseif e[2] == '1' then
  -- Claimed: only the requests of a killed session still count down; the last one destroys it.
  local active = tonumber(e[3] or '0')
  if e[5] ~= '1' or entered ~= '1' or active == 0 then return 0 end
  redis.call('HSET', KEYS[1], 'active', active - 1)
  if active == 1 then return 2 end
  return 0
elseif entered == '0' then
  redis.call('HSET', KEYS[1], 'accessed', accessed)
end
local active = math.max(0, tonumber(e[3] or '0') - 1)
local fields = { 'active', active }
if store == '' then
  if e[4] then redis.call('HDEL', KEYS[1], 'store') end
elseif store ~= e[4] then
  table.insert(fields, 'store'); table.insert(fields, store)
end
if active == 0 and timeout ~= '' then
  if timeout == '-1' then
    table.insert(fields, 'deadline'); table.insert(fields, -1)
    redis.call('ZREM', KEYS[2], member)
  else
    local deadline = tonumber(now) + tonumber(timeout)
    table.insert(fields, 'deadline'); table.insert(fields, deadline)
    redis.call('ZADD', KEYS[2], deadline, member)
  end
end
if principal ~= '' and principal ~= e[6] then
  table.insert(fields, 'principal'); table.insert(fields, principal)
  if e[6] then redis.call('SREM', principals .. e[6], member) end
  redis.call('SADD', KEYS[4], member)
end
redis.call('HSET', KEYS[1], unpack(fields))
if store ~= '' and store ~= e[4] then redis.call('PEXPIREAT', KEYS[1], store) end
if principal ~= '' and store ~= '' and (store ~= e[4] or principal ~= e[6]) then
  -- The user's set lives as long as the longest-lived of its sessions.
  local ttl = redis.call('PTTL', KEYS[4])
  if ttl < 0 or tonumber(now) + ttl < tonumber(store) then redis.call('PEXPIREAT', KEYS[4], store) end
end
return 1

--- claim
-- Claims a due, idle, unclaimed session for destruction. KEYS: entry, expiry index.
-- ARGV: now ('Infinity': whatever the deadline), entered ('1'/'0'), member.
local MARK_MARGIN_MS = 10000
local e = redis.call('HMGET', KEYS[1], 'accessed', 'deadline', 'store', 'active', 'claimed', 'killed')
if not e[1] then
  -- The hash expired by itself (no reaper ran within the grace): drop its stale index member.
  redis.call('ZREM', KEYS[2], ARGV[3])
  return false
end
if e[5] == '1' then return false end
if ARGV[1] ~= 'Infinity' then
  local deadline = tonumber(e[2])
  if deadline == nil or deadline < 0 or deadline > tonumber(ARGV[1]) then return false end
end
local allowed = 0
if ARGV[2] == '1' then allowed = 1 end
if tonumber(e[4] or '0') > allowed then return false end
redis.call('HSET', KEYS[1], 'claimed', 1)
redis.call('ZREM', KEYS[2], ARGV[3])
if e[3] then redis.call('PEXPIREAT', KEYS[1], tonumber(e[3]) + MARK_MARGIN_MS) end
return e

--- inspect
-- The entry as it is. KEYS: entry.
local e = redis.call('HMGET', KEYS[1], 'accessed', 'deadline', 'store', 'active', 'claimed', 'killed')
if not e[1] then return false end
return e

--- kill
-- Marks a session killed, drops its lock, tells every process. KEYS: entry, expiry index, lock.
-- ARGV: member, kill channel.
local MARK_MARGIN_MS = 10000
local e = redis.call('HMGET', KEYS[1], 'accessed', 'deadline', 'store', 'active', 'claimed', 'killed')
if not e[1] then return false end
if e[5] == '1' then return e end
redis.call('HSET', KEYS[1], 'claimed', 1, 'killed', 1)
redis.call('ZREM', KEYS[2], ARGV[1])
if e[3] then redis.call('PEXPIREAT', KEYS[1], tonumber(e[3]) + MARK_MARGIN_MS) end
redis.call('DEL', KEYS[3])
redis.call('PUBLISH', ARGV[2], ARGV[1])
return e

--- lock
-- Serial access: takes the lock. KEYS: lock. ARGV: token, ttl ms.
return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])

--- renew
-- Extends a held lock. KEYS: lock. ARGV: token, ttl ms.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])

--- unlock
-- Releases the lock if the token still owns it. KEYS: lock. ARGV: token.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0

--- due
-- The expiry index's due members. KEYS: expiry index. ARGV: now, limit.
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])

--- remove
-- Forgets a session; 1 for the one caller that removed it. KEYS: entry, expiry index, session index.
-- ARGV: member, principal prefix.
local principal = redis.call('HGET', KEYS[1], 'principal')
local removed = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if principal then redis.call('SREM', ARGV[2] .. principal, ARGV[1]) end
return removed

--- keys
-- A page of the session index after a cursor. KEYS: session index. ARGV: from ('-' or '(<key>'), limit.
return redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], '+', 'LIMIT', 0, ARGV[2])

--- members
-- The keys bound to a user. KEYS: the user's set.
return redis.call('SMEMBERS', KEYS[1])

--- count
-- How many top-level sessions. KEYS: session index.
return redis.call('ZCARD', KEYS[1])
