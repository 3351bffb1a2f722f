// The Lua scripts the Redis store runs: each one atomic, so an event is numbered, logged and
// kept for replay together or not at all. Pure text and hashes, no I/O.
import { createHash } from 'node:crypto'

export interface RedisScript {
  readonly source: string
  readonly sha: string
}

/** Checkpoints (time, seq) per historyMaxAge: a forgotten topic is bounded to 1/8 of it. */
const CHECKPOINTS = 8
/** How far Redis' expiry clock may trail TIME in a script, in ms: a forgotten topic's bound allows for it. */
const CLOCK_MARGIN_MS = 10

// Every script starts here. KEYS[1] is the meta hash { epoch, ms, seq } of the history, KEYS[2]
// the shared log; ARGV[1] a fresh epoch, used only when a new history starts; ARGV[2] and ARGV[3]
// the epoch this instance follows and the highest seq it has seen in it.
//
// A new history starts when Redis holds none (first use, or data lost) or when the one it
// holds went back in time: a seq lower than one already seen means a restore from an older
// snapshot or a lagging replica promoted, and counting on from there would issue ids twice.
// `ms` (Redis time when the history started, never lower than the previous one) is the first
// half of every stream entry id, so entries of a newer history sort after all older ones and a
// reader parked at an old position still receives them.
//
// It also starts when the log holds an entry past the last id issued: written from outside, or
// `meta` was lost while the log was kept and Redis' clock is now behind it. The current history
// could not append after that entry (a stream's ids only grow), and readers could never get
// past it; the new one's `ms` sorts after it, so they skip it and it is never delivered.
const PRELUDE = `
local function history()
  local meta = redis.call('HMGET', KEYS[1], 'epoch', 'ms', 'seq')
  if meta[1] and not (meta[1] == ARGV[2] and tonumber(meta[3]) < tonumber(ARGV[3]))
    and #redis.call('XRANGE', KEYS[2], '(' .. meta[2] .. '-' .. meta[3], '+', 'COUNT', 1) == 0 then
    return meta[1], meta[2], tonumber(meta[3])
  end
  local now = redis.call('TIME')
  local ms = tonumber(now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000)))
  if meta[2] then ms = math.max(ms, tonumber(meta[2]) + 1) end
  local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
  if #top > 0 then ms = math.max(ms, tonumber(string.match(top[1][1], '^%d+')) + 1) end
  -- Past 2^53 a Lua number no longer counts in steps of one: no later ms can be written.
  if ms >= ${Number.MAX_SAFE_INTEGER} then
    error({ err = 'ERR fastify-sse-hub: the log ' .. KEYS[2] .. ' holds an entry with an id no history can follow (written from outside?); delete that key' })
  end
  ms = string.format('%d', ms)
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'ms', ms, 'seq', 0)
  return ARGV[1], ms, 0
end

-- Redis time in milliseconds: when an event was appended, and how old a history is.
local function clock()
  local now = redis.call('TIME')
  return tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
end

local function int(n)
  return string.format('%d', n)
end

-- A topic's history is one list: a header '<ms>,<dropped>,<final>,<disconnected>' (the history
-- it belongs to, the newest seq of the topic no longer kept, the seq of its final event or 0,
-- the seq of its latest disconnect(topic) or 0), then its kept events
-- '<seq>,<time>,<last>,<event>\\n<data>', oldest first. Returns the list's length, dropped, final
-- and disconnected; a length of 0 when the key holds nothing of this history, then whether it
-- holds something else (an older history's topic) to replace. (LLEN fails on a key of another
-- type.)
local function topic(key, ms)
  local length = redis.call('LLEN', key)
  if length == 0 then return 0, 0, 0, false, 0 end
  local hms, dropped, final, disconnected = string.match(redis.call('LINDEX', key, 0), '^(%d+),(%d+),(%d+),(%d+)$')
  if hms ~= ms then return 0, 0, 0, true, 0 end
  return length, tonumber(dropped), tonumber(final), false, tonumber(disconnected)
end

-- The seq (which = 1) or append time (which = 2) of the event at index i of a topic's list.
local function field(key, i, which)
  local seq, time = string.match(redis.call('LINDEX', key, i), '^(%d+),(%d+),')
  if which == 1 then return tonumber(seq) end
  return tonumber(time)
end

-- The first index from 1 whose field is at least value, else length: seq and time only grow
-- along the list, so a binary search reads a few entries, never the whole topic.
local function firstAtLeast(key, length, which, value)
  local lo, hi = 1, length
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if field(key, mid, which) >= value then hi = mid else lo = mid + 1 end
  end
  return lo
end

-- Every seq a topic with no list may have had: it is forgotten (its key expired once its newest
-- event was older than maxAge) or never was. Its events then came before now - maxAge, and the
-- first checkpoint after that (time, seq: every seq issued before time is lower) bounds them.
-- With no age limit keys never expire: a topic without a list has had no event in this history.
local function forgotten(checkpoints, ms, now, maxAge, newest)
  if maxAge == 0 then return 0 end
  -- Checkpoints before this history began belong to an older one.
  local after = now - maxAge + ${CLOCK_MARGIN_MS}
  local min = int(ms)
  if after >= tonumber(ms) then min = '(' .. int(after) end
  local first = redis.call('ZRANGEBYSCORE', checkpoints, min, '+inf', 'LIMIT', 0, 1)
  if #first == 0 then return newest end
  return tonumber(first[1]) - 1
end
`

/** KEYS: meta, log. Returns { epoch, ms, seq }: where a reader starts or resumes. */
export const HISTORY_SCRIPT = script(`
local epoch, ms, seq = history()
return { epoch, ms, seq }
`)

/**
 * Appends a batch: the publishes and disconnects of one turn, in one call. KEYS: meta, log,
 * checkpoints, then the list of each topic the batch names. ARGV[4..6]: log length,
 * historyMaxAge, the number of topics k; then per topic its name and `history`; then per entry
 * four: the topic's number (1..k), event, data, and '1' (a topic's final event), '0' (an
 * event) or 'x' (a disconnect of that topic).
 *
 * Each event is numbered and added to its topic's list, which keeps at most `history` events
 * none older than historyMaxAge; the list's header records the newest seq pushed out, so a
 * replay knows exactly which resume points are gone, and the seq of a final event (the topic
 * is then finished). The list expires historyMaxAge after its newest event, so nothing stays
 * per topic ever seen; a checkpoint every historyMaxAge / 8 bounds what a forgotten topic may
 * have held. The whole batch is one entry of the shared log every instance reads, id
 * `<ms>-<seq of its last entry>`, fields four per entry: kind, topic, event, data (a
 * disconnect has no event or data): one XADD however many events, and readers get the batch
 * whole. The log keeps the entries of about its last `log length` seqs.
 * Returns { epoch, then per entry its seq, or 0 for an event to a finished topic (not written) }.
 */
export const APPEND_SCRIPT = script(`
local epoch, ms, newest = history()
local maxAge = tonumber(ARGV[5])
local k = tonumber(ARGV[6])
-- Every read that can fail comes before the first write: a script that fails halfway keeps
-- its writes, and a batch must be written whole or not at all. (XLEN, ZCARD and LLEN fail on
-- a key of another type, as the writes to it would.)
redis.call('XLEN', KEYS[2])
redis.call('ZCARD', KEYS[3])
local now = clock()
local topics = {}
for i = 1, k do
  local key = KEYS[3 + i]
  local length, dropped, final, stale, disconnected = topic(key, ms)
  -- A topic without a list of this history: what it may have held before is bounded.
  if length == 0 then dropped = forgotten(KEYS[3], ms, now, maxAge, newest) end
  topics[i] = { key = key, name = ARGV[5 + 2 * i], keep = tonumber(ARGV[6 + 2 * i]), length = length,
    dropped = dropped, final = final, stale = stale, disconnected = disconnected, added = {}, addedSeqs = {},
    written = false, removeOld = 0, removeNew = 0 }
end
local checkpoint = false
if maxAge > 0 then
  local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
  checkpoint = #last == 0 or tonumber(last[2]) <= now - maxAge / ${CHECKPOINTS}
end

local result = { epoch }
local entry = {}
local seq = newest
local first = 0
local time = int(now)
for at = 7 + 2 * k, #ARGV, 4 do
  local t = topics[tonumber(ARGV[at])]
  local kind = ARGV[at + 3]
  if kind == 'x' then
    seq = seq + 1
    entry[#entry + 1] = 'x'
    entry[#entry + 1] = t.name
    entry[#entry + 1] = ''
    entry[#entry + 1] = ''
    -- Recorded in the topic's header too: an instance that misses this log entry (it fell
    -- behind) learns of it when it replays its streams.
    t.disconnected = seq
    t.written = true
    result[#result + 1] = seq
  elseif t.final > 0 then
    result[#result + 1] = 0
  else
    seq = seq + 1
    if first == 0 then first = seq end
    entry[#entry + 1] = kind
    entry[#entry + 1] = t.name
    entry[#entry + 1] = ARGV[at + 1]
    entry[#entry + 1] = ARGV[at + 2]
    if kind == '1' then t.final = seq end
    t.written = true
    if t.keep == 0 then
      t.dropped = seq
    else
      t.added[#t.added + 1] = int(seq) .. ',' .. time .. ',' .. kind .. ',' .. ARGV[at + 1] .. '\\n' .. ARGV[at + 2]
      t.addedSeqs[#t.addedSeqs + 1] = seq
    end
    result[#result + 1] = seq
  end
end
if seq == newest then return result end

-- What each list pushes out (over the cap with the new events, the oldest first, or older than
-- maxAge) and so the newest seq it no longer keeps: reads, still before the first write.
for i = 1, k do
  local t = topics[i]
  if t.written then
    local events = math.max(t.length - 1, 0)
    local over = events + #t.added - t.keep
    if over > 0 then
      t.removeOld = math.min(events, over)
      t.removeNew = over - t.removeOld
    end
    if maxAge > 0 then
      while t.removeOld < events and field(t.key, t.removeOld + 1, 2) < now - maxAge do t.removeOld = t.removeOld + 1 end
    end
    if t.removeOld > 0 then t.dropped = math.max(t.dropped, field(t.key, t.removeOld, 1)) end
    if t.removeNew > 0 then t.dropped = math.max(t.dropped, t.addedSeqs[t.removeNew]) end
  end
end

redis.call('HSET', KEYS[1], 'seq', seq)
-- Trimmed by seq, in whole nodes of the stream (~): the entries of about the last ARGV[4] seqs.
local keepFrom = seq - tonumber(ARGV[4])
if keepFrom > 0 then
  redis.call('XADD', KEYS[2], 'MINID', '~', ms .. '-' .. int(keepFrom), ms .. '-' .. int(seq), unpack(entry))
else
  redis.call('XADD', KEYS[2], ms .. '-' .. int(seq), unpack(entry))
end
for i = 1, k do
  local t = topics[i]
  if t.written then
    local head = ms .. ',' .. int(t.dropped) .. ',' .. int(t.final) .. ',' .. int(t.disconnected)
    if t.length == 0 then
      if t.stale then redis.call('DEL', t.key) end
      redis.call('RPUSH', t.key, head)
    elseif t.removeOld > 0 then
      redis.call('LPOP', t.key, t.removeOld + 1)
      redis.call('LPUSH', t.key, head)
    else
      redis.call('LSET', t.key, 0, head)
    end
    -- In slices: unpack() of thousands of values would overflow Lua's stack.
    for from = t.removeNew + 1, #t.added, 1000 do
      redis.call('RPUSH', t.key, unpack(t.added, from, math.min(from + 999, #t.added)))
    end
    if maxAge > 0 then redis.call('PEXPIRE', t.key, maxAge) else redis.call('PERSIST', t.key) end
  end
end
if maxAge > 0 then
  if checkpoint and first > 0 then redis.call('ZADD', KEYS[3], now, first) end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', int(now - maxAge))
end
return result
`)

/**
 * KEYS: meta, log, checkpoints, then one list per topic. ARGV[4], ARGV[5]: the epoch and seq of the
 * client's Last-Event-ID (seq -1 when it has none); ARGV[6]: historyMaxAge.
 * Returns { epoch, newest seq, then per topic: dropped-up-to seq (events older than
 * historyMaxAge count as dropped), its events after the point the replay starts from, the seq
 * of its final event or 0, the seq of its latest disconnect or 0 }. That point is computed as
 * `planReplay` does, so only needed events travel; `planReplay` then decides on them in
 * JavaScript, the same way for every store.
 */
export const REPLAY_SCRIPT = script(`
local epoch, ms, newest = history()
local maxAge = tonumber(ARGV[6])
local now = clock()
local count = #KEYS - 3
local last = -1
if ARGV[4] == epoch and tonumber(ARGV[5]) <= newest then last = tonumber(ARGV[5]) end
local lengths, dropped, finals, disconnects = {}, {}, {}, {}
local complete = 0
for i = 1, count do
  local key = KEYS[3 + i]
  local length, upTo, final, _, disconnected = topic(key, ms)
  if length == 0 then
    upTo = forgotten(KEYS[3], ms, now, maxAge, newest)
  elseif maxAge > 0 then
    local fresh = firstAtLeast(key, length, 2, now - maxAge)
    if fresh > 1 then upTo = math.max(upTo, field(key, fresh - 1, 1)) end
  end
  lengths[i], dropped[i], finals[i], disconnects[i] = length, upTo, final, disconnected
  if upTo > complete then complete = upTo end
end
local from = complete
if last >= complete then from = last end
local result = { epoch, newest }
for i = 1, count do
  local entries = {}
  if lengths[i] > 1 then
    local first = firstAtLeast(KEYS[3 + i], lengths[i], 1, from + 1)
    if first < lengths[i] then entries = redis.call('LRANGE', KEYS[3 + i], first, -1) end
  end
  result[#result + 1] = dropped[i]
  result[#result + 1] = entries
  result[#result + 1] = finals[i]
  result[#result + 1] = disconnects[i]
end
return result
`)

/**
 * KEYS: meta, log, then one list per topic. ARGV[4]: how many of the newest events of each topic, or
 * -1 for all; ARGV[5]: historyMaxAge. Returns { epoch, newest seq, then per topic: its newest
 * events of this history no older than historyMaxAge, oldest first, the seq of its final event
 * or 0 }.
 */
export const BACKFILL_SCRIPT = script(`
local epoch, ms, newest = history()
local wanted = tonumber(ARGV[4])
local maxAge = tonumber(ARGV[5])
local now = clock()
local result = { epoch, newest }
for i = 1, #KEYS - 2 do
  local key = KEYS[2 + i]
  local length, _, final = topic(key, ms)
  local entries = {}
  if length > 1 and wanted ~= 0 then
    local first = 1
    if maxAge > 0 then first = firstAtLeast(key, length, 2, now - maxAge) end
    if wanted > 0 then first = math.max(first, length - wanted) end
    if first < length then entries = redis.call('LRANGE', key, first, -1) end
  end
  result[#result + 1] = entries
  result[#result + 1] = final
end
return result
`)

function script (body: string): RedisScript {
  const source = PRELUDE + body
  return { source, sha: createHash('sha1').update(source).digest('hex') }
}
