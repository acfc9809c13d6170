-- The Redis coordinator's scripts (its key layout is at the top of redis-coordinator.ts).
-- Each script starts at a line `--- <name>`; a line `-- @include <name>` inside one is replaced
-- by that section (shared functions). The build embeds this file (scripts/embed-assets.mjs).
--
-- A session's entry is a hash: accessed, deadline (-1 never), store (when the store's record
-- expires, ms), claimed, killed, principal, ver (how many times its record was written through
-- these scripts), and one field `r:<token>` per request using it now, whose value is when that
-- request's lease runs out (ms), with `rn` and `rmin` to count them (see `kept`). A request
-- leaves by deleting its own field, so leaving twice, or
-- leaving after an enter that never happened (a call that timed out), changes nothing. A field
-- whose lease ran out no longer counts (its leave was lost with a connection; long requests have
-- their leases renewed), so such a session still expires.
--
-- A claimed or killed entry outlives the store's record by MARK_MARGIN_MS, so the mark keeps
-- requests off a record the store expires a little late (its TTL counts from its own write,
-- rounded up to whole seconds): more than a store call may take plus that rounding.

--- lib
local MARK_MARGIN_MS = 10000

-- Whether the kept count of requests (`rn`, with `rmin` as read with it) tells how many use the
-- session at `at`: none, or some none of whose leases can have run out yet. The entry keeps how
-- many `r:` fields it has (`rn`) and a time before which none of their leases runs out (`rmin`,
-- ms): every script that adds or deletes such a field keeps them, so that while no lease can have
-- run out the count is read with the entry's other fields rather than from every field (50
-- requests in flight on one session are 50 fields, read twice per request).
local function kept(count, lowest, at)
  return count == 0 or (count ~= nil and count > 0 and lowest ~= nil and at < lowest)
end

-- Requests using the session at `at`, counted field by field (an entry whose kept count does not
-- tell, or one without `rn`: written before it was kept): its `r:<token>` fields whose lease has
-- not run out. With `prune`, the fields whose lease ran out are deleted. Sets `rn` and `rmin`
-- from what is left; answers the count, then `rn` and `rmin` as set.
local function recount(key, at, prune)
  local n, total, lowest, fields = 0, 0, nil, redis.call('HGETALL', key)
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 2) == 'r:' then
      local lease = tonumber(fields[i + 1])
      if lease > at then n = n + 1 end
      if lease > at or not prune then
        total = total + 1
        if not lowest or lease < lowest then lowest = lease end
      else
        redis.call('HDEL', key, fields[i])
      end
    end
  end
  if lowest then redis.call('HSET', key, 'rn', total, 'rmin', lowest) else redis.call('HSET', key, 'rn', 0) end
  return n, total, lowest
end

-- The entry's fields at `now` in the order every script answers them, `active` counted; nil
-- when none. Then, for enterEntry: `rn` and `rmin` as they are now, and whether the entry has
-- the field `extra` (one HMGET reads them all).
local function entryOf(key, now, extra)
  local e = redis.call('HMGET', key, 'accessed', 'deadline', 'store', 'claimed', 'killed', 'ver', 'note', 'rn', 'rmin', extra or 'accessed')
  if not e[1] then return nil end
  local at, count, lowest = tonumber(now), tonumber(e[8]), tonumber(e[9])
  local active = count
  if not kept(count, lowest, at) then active, count, lowest = recount(key, at, false) end
  return { e[1], e[2], e[3], tostring(active), e[4], e[5], e[6], e[7] }, count, lowest, e[10] ~= false
end

-- Writes the fields of `set` (a table) and deletes those of `unset` (a list), at most one
-- command each.
local function apply(key, set, unset)
  if #unset > 0 then redis.call('HDEL', key, unpack(unset)) end
  local flat = {}
  for field, value in pairs(set) do
    flat[#flat + 1] = field
    flat[#flat + 1] = value
  end
  if #flat > 0 then redis.call('HSET', key, unpack(flat)) end
end

-- A request starts using the session (see `enter`), its lease running until `lease`; the entry
-- as it was before, or nil. One HMGET and one HSET (the access time, the request's field, the
-- kept count).
local function enterEntry(key, now, strict, token, lease)
  local mine = 'r:' .. token
  local before, count, lowest, entered = entryOf(key, now, mine)
  if not before then return nil end
  if before[5] == '1' then return before end
  if strict == '1' and before[4] == '0' then
    local deadline = tonumber(before[2] or '-1')
    if deadline >= 0 and deadline <= tonumber(now) then return before end
  end
  if entered then
    -- Entered already under this token: counted already.
    redis.call('HSET', key, 'accessed', now, mine, lease)
  else
    -- Counted, and `rmin` kept a lower bound (with no `r:` field before, the new lease is it).
    local until_ = tonumber(lease)
    if count == 0 or not lowest or until_ < lowest then lowest = until_ end
    redis.call('HSET', key, 'accessed', now, mine, lease, 'rn', count + 1, 'rmin', lowest)
  end
  return before
end

-- A request stops using the session. K[1..4] (a script's KEYS, or part of them): entry, expiry
-- index, session index, the user's set. A[1..10] (its ARGV, or part): now, timeout ms ('' keep,
-- '-1' never), store expiry ms ('' none), entered ('1'/'0'), the request's start, the member
-- (session key), principal ('' none), principal prefix, top-level ('1'/'0'), the request's token.
-- Answers 2 to the last request of a killed session (it destroys it), else 0 or 1; then whether
-- the entry exists, and whether it set the fields of `extra` (a table, or nil) with its own.
-- Every field it needs comes in one HMGET (`read`, when the caller has read them already), what
-- it changes goes out in one HDEL and one HSET.
local function leaveEntry(K, A, read, extra)
  local now, timeout, store, entered, accessed, member = A[1], A[2], A[3], A[4], A[5], A[6]
  local principal, principals, toplevel, mine = A[7], A[8], A[9], 'r:' .. A[10]
  local e = read or redis.call('HMGET', K[1], 'accessed', 'claimed', 'store', 'killed', 'principal', 'rn', 'rmin', 'next', mine)
  local at = tonumber(now)
  local count, lowest, pending, had = tonumber(e[6]), tonumber(e[7]), e[8], e[9] ~= false
  local set, unset = extra or {}, {}
  if not e[1] then
    if entered == '1' then return 0, false, false end
    e = { accessed, false, false, false, false }
    count, pending, had = 0, false, false
    set.deadline, set.rn = -1, 0
    if toplevel == '1' then redis.call('ZADD', K[3], 0, member) end
  else
    if entered == '1' and not had then return 0, true, false end
    if had then
      unset[1] = mine
      if count then
        count = count - 1
        set.rn = count
      end
    end
  end
  if e[2] == '1' then
    -- Claimed: only the requests of a killed session still count down; the last one destroys it.
    apply(K[1], set, unset)
    if e[4] == '1' and had then
      local n = count
      if not kept(count, lowest, at) then n = recount(K[1], at, true) end
      if n == 0 then return 2, true, true end
    end
    return 0, true, true
  end
  if entered == '0' then set.accessed = accessed end
  if store == '' then
    if e[3] then unset[#unset + 1] = 'store' end
  elseif store ~= e[3] then
    set.store = store
  end
  local n = count
  if not kept(count, lowest, at) then
    -- Counted field by field, without this request's field (deleted first); `recount` sets `rn`.
    if #unset > 0 then redis.call('HDEL', K[1], unpack(unset)) end
    unset, set.rn = {}, nil
    n = recount(K[1], at, true)
  end
  -- The deadline moves when the last request leaves. A leave that finds others still using the
  -- session keeps its deadline as `next`, for whichever leave makes the session idle — even one
  -- that knows no timeout (a request left in the background after a failed call) — and for the
  -- claim, should the others' leases run out instead (docs/architecture.md, "Redis Cluster and Sentinel").
  local idle = n == 0
  local deadline = nil
  if timeout == '-1' then deadline = -1 elseif timeout ~= '' then deadline = at + tonumber(timeout) end
  if deadline ~= nil and not idle then
    set.next = deadline
  elseif idle and pending then
    unset[#unset + 1] = 'next'
    if deadline == nil then deadline = tonumber(pending) end
  end
  if deadline ~= nil and idle then
    set.deadline = deadline
    if deadline < 0 then redis.call('ZREM', K[2], member) else redis.call('ZADD', K[2], deadline, member) end
  end
  if principal ~= '' and principal ~= e[5] then
    set.principal = principal
    if e[5] then redis.call('SREM', principals .. e[5], member) end
    redis.call('SADD', K[4], member)
  end
  apply(K[1], set, unset)
  if store ~= '' and store ~= e[3] then redis.call('PEXPIREAT', K[1], store) end
  if principal ~= '' and store ~= '' and (store ~= e[3] or principal ~= e[5]) then
    -- The user's set lives as long as the longest-lived of its sessions.
    local ttl = redis.call('PTTL', K[4])
    if ttl < 0 or at + ttl < tonumber(store) then redis.call('PEXPIREAT', K[4], store) end
  end
  return 1, true, true
end

--- enter
-- A request starts using a session. KEYS: entry. ARGV: now, strict ('1' or '0'), the request's
-- token, when its lease runs out. Answers the entry as it was (nil when there is none): with strict expiry, nothing is
-- recorded for a session idle past its deadline (nor for a claimed one).
-- @include lib
return enterEntry(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]) or false

--- load
-- `enter`, and the store's record read in the same step: the record lives on this Redis, in the
-- store's own key (see `colocate`). KEYS: entry, record. ARGV: as `enter`. Answers
-- { record or false, entry or false }.
-- @include lib
return { redis.call('GET', KEYS[2]), enterEntry(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]) or false }

--- leave
-- One request leaves (KEYS and ARGV as `leaveEntry`'s K and A; answers its answer), or several:
-- KEYS and ARGV as for one, once per request, answering each one's answer in order (the leaves of
-- requests that ended together: docs/architecture.md, "Coordinators").
-- @include lib
if #KEYS == 4 then return (leaveEntry(KEYS, ARGV)) end
local answer = {}
for i = 0, #KEYS / 4 - 1 do
  answer[i + 1] = (leaveEntry({ KEYS[4 * i + 1], KEYS[4 * i + 2], KEYS[4 * i + 3], KEYS[4 * i + 4] }, { unpack(ARGV, 10 * i + 1, 10 * i + 10) }))
end
return answer

--- write
-- Writes the session's record in the store's key (JSON, EX ttl) and leaves for each request of a
-- group of commits (docs/architecture.md, "Commit"), in one step. KEYS: as `leave`, once per
-- request, then the record. ARGV: as `leave`, once per request, then the record's JSON, its TTL
-- in seconds, the version it was merged onto ('' when it is written whole: a new or renamed
-- session), the write that must have made that version ('' any: the version was read with the
-- record; else a write still in flight when this one was merged onto it), and this write's id
-- (kept as `by`). A record merged onto another version than the entry's now, onto another write,
-- or onto a session claimed (killed, expiring) or gone meanwhile, is not written: { 'conflict' }
-- (the caller reads it again). Answers { 'written', the entry's version now, each request's leave
-- answer... }. The first leave's HMGET reads `ver` and `by` too (the check), and the last leave's
-- HSET sets them.
-- @include lib
local n = (#KEYS - 1) / 4
local expected, after, writer = ARGV[10 * n + 3], ARGV[10 * n + 4], ARGV[10 * n + 5]
local first = redis.call('HMGET', KEYS[1], 'accessed', 'claimed', 'store', 'killed', 'principal', 'rn', 'rmin', 'next', 'r:' .. ARGV[10], 'ver', 'by')
local version = tonumber(first[10] or '0')
if expected ~= '' and (first[2] == '1' or version ~= tonumber(expected) or (after ~= '' and first[11] ~= after)) then return { 'conflict' } end
redis.call('SET', KEYS[4 * n + 1], ARGV[10 * n + 1], 'EX', ARGV[10 * n + 2])
local answer, exists, bumped = { 'written', 0 }, false, false
for i = 0, n - 1 do
  local extra = nil
  if i == n - 1 then extra = { ver = version + 1, by = writer } end
  local left, found, set = leaveEntry({ KEYS[4 * i + 1], KEYS[4 * i + 2], KEYS[4 * i + 3], KEYS[4 * i + 4] }, { unpack(ARGV, 10 * i + 1, 10 * i + 10) }, i == 0 and first or nil, extra)
  answer[i + 3] = left
  exists = exists or found
  bumped = set
end
if bumped then
  answer[2] = version + 1
elseif exists then
  answer[2] = redis.call('HINCRBY', KEYS[1], 'ver', 1)
  redis.call('HSET', KEYS[1], 'by', writer)
end
return answer

--- touch
-- Extends the TTL of the session's record (EXPIRE) and leaves, in one step. KEYS: as `leave`,
-- then the record. ARGV: as `leave`, then the TTL in seconds. Answers leave's answer.
-- @include lib
redis.call('EXPIRE', KEYS[5], ARGV[11])
return (leaveEntry(KEYS, ARGV))

--- read
-- The record in the store's key and the entry's version, to merge onto again after a conflict.
-- KEYS: entry, record. Answers { record or false, version or false, claimed or false, entry
-- exists (1 or 0) }.
local e = redis.call('HMGET', KEYS[1], 'ver', 'claimed')
return { redis.call('GET', KEYS[2]), e[1] or false, e[2] or false, redis.call('EXISTS', KEYS[1]) }

--- claim
-- Claims a due, idle, unclaimed session for destruction. KEYS: entry, expiry index.
-- ARGV: due at ('Infinity': whatever the deadline), entered ('1': the caller's own request may
-- be using it), member, now, the claimer's token ('' none). A claim whose answer was lost is
-- retried with the same token: a session claimed (not killed) under that token is claimed again
-- for it, whatever its deadline, so the caller learns it won and destroys it (docs/architecture.md,
-- "Lost answers").
-- @include lib
local e = entryOf(KEYS[1], ARGV[4])
if not e then
  -- The hash expired by itself (no reaper ran within the grace): drop its stale index member.
  redis.call('ZREM', KEYS[2], ARGV[3])
  return false
end
if e[5] == '1' then
  if ARGV[5] ~= '' and e[6] ~= '1' and redis.call('HGET', KEYS[1], 'claimer') == ARGV[5] then return e end
  return false
end
local allowed = 0
if ARGV[2] == '1' then allowed = 1 end
if ARGV[1] ~= 'Infinity' then
  local deadline = tonumber(e[2])
  if deadline == nil or deadline < 0 or deadline > tonumber(ARGV[1]) then return false end
  -- A later deadline left by a request while others used the session (see `leave`): the session
  -- is not due; once idle (the others' leases ran out), that deadline is its own.
  local pending = tonumber(redis.call('HGET', KEYS[1], 'next'))
  if pending and (pending < 0 or pending > tonumber(ARGV[1])) then
    if tonumber(e[4]) <= allowed then
      redis.call('HDEL', KEYS[1], 'next')
      redis.call('HSET', KEYS[1], 'deadline', pending)
      if pending < 0 then redis.call('ZREM', KEYS[2], ARGV[3]) else redis.call('ZADD', KEYS[2], pending, ARGV[3]) end
    end
    return false
  end
end
if tonumber(e[4]) > allowed then return false end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'claimed', 1, 'claimer', ARGV[5])
else redis.call('HSET', KEYS[1], 'claimed', 1) end
redis.call('ZREM', KEYS[2], ARGV[3])
if e[3] then redis.call('PEXPIREAT', KEYS[1], tonumber(e[3]) + MARK_MARGIN_MS) end
return e

--- inspect
-- The entry as it is. KEYS: entry. ARGV: now.
-- @include lib
return entryOf(KEYS[1], ARGV[1]) or false

--- kill
-- Marks a session killed, drops its lock, tells every process. KEYS: entry, expiry index, lock.
-- ARGV: member, kill channel, now, note (why and by whom, '' none: kept as `note` for the request
-- that destroys it later).
-- @include lib
local e = entryOf(KEYS[1], ARGV[3])
if not e then return false end
if e[5] == '1' then return e end
redis.call('HSET', KEYS[1], 'claimed', 1, 'killed', 1)
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'note', ARGV[4]) end
redis.call('ZREM', KEYS[2], ARGV[1])
if e[3] then redis.call('PEXPIREAT', KEYS[1], tonumber(e[3]) + MARK_MARGIN_MS) end
redis.call('DEL', KEYS[3])
redis.call('PUBLISH', ARGV[2], ARGV[1])
return e

--- lock
-- Serial access (and the commit lock): takes the lock. KEYS: lock. ARGV: token, ttl ms.
return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])

--- renew
-- Extends a held lock. KEYS: lock. ARGV: token, ttl ms.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])

--- lease
-- Renews a request's lease on a session, if it still uses it. KEYS: entry. ARGV: the request's
-- token, when the lease now runs out.
if redis.call('HEXISTS', KEYS[1], 'r:' .. ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'r:' .. ARGV[1], ARGV[2])
return 1

--- unlock
-- Releases the lock if the token still owns it. KEYS: lock. ARGV: token.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0

--- due
-- The expiry index's due members. KEYS: expiry index. ARGV: now, limit.
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])

--- remove
-- Forgets a session; 1 for the one caller that removed it. KEYS: entry, expiry index, session
-- index, and (colocated) the record, deleted first. ARGV: member, principal prefix.
local principal = redis.call('HGET', KEYS[1], 'principal')
if KEYS[4] then redis.call('DEL', KEYS[4]) end
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

--- admitsession
-- Counts a session among its app's (maxActiveSessions; docs/architecture.md, "Caps"). KEYS: the
-- app's live set (its own hash tag: one slot for the app, whatever the shards of its sessions).
-- ARGV: member, max ('inf' none), until (score: when its record expires), now. Counts that
-- lapsed (a record the store dropped without a destruction) are dropped first. A member counted
-- already is renewed. Answers 1 when counted, 0 when the cap is reached.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and ARGV[2] ~= 'inf' and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1

--- releasesession
-- A counted session went. KEYS: the app's live set. ARGV: member.
return redis.call('ZREM', KEYS[1], ARGV[1])

--- livecount
-- How many sessions an app counts. KEYS: the app's live set. ARGV: now.
return redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf')

--- principalsessions
-- The sessions counted for a user, with when each was last seen used. KEYS: the user's set.
return redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')

--- admitprincipal
-- Counts a session among its user's (maxSessionsPerPrincipal), in one step, so that logins of
-- one user on several processes at once never pass the cap together. KEYS: the user's set (its
-- own hash tag), member = session key, score = when last seen used. ARGV: member, max, evict
-- ('1' or '0'), now, how long the set outlives this admission (ms), then pairs of
-- member, last use as the caller found it ('' gone). Answers { 1, evicted... } when counted
-- (evicted: the least recently used, dropped to make room; the caller kills them), { 0 } when
-- refused.
local member, max, evict, now = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
for i = 6, #ARGV, 2 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score then
    if ARGV[i + 1] == '' then redis.call('ZREM', KEYS[1], ARGV[i])
    elseif tonumber(ARGV[i + 1]) > tonumber(score) then redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i]) end
  end
end
local n = redis.call('ZCARD', KEYS[1])
local evicted = {}
if not redis.call('ZSCORE', KEYS[1], member) and n >= max then
  if evict ~= '1' then return { 0 } end
  evicted = redis.call('ZRANGE', KEYS[1], 0, n - max)
  for _, gone in ipairs(evicted) do redis.call('ZREM', KEYS[1], gone) end
end
redis.call('ZADD', KEYS[1], now, member)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return { 1, unpack(evicted) }
