// The Lua scripts the Redis store runs: each one atomic, so an event is numbered, logged and
// kept for replay together or not at all. Pure text and hashes, no I/O.
import { createHash } from 'node:crypto'

export interface RedisScript {
  readonly source: string
  readonly sha: string
}

// Every script starts here. KEYS[1] is the meta hash { epoch, ms, seq } of the history;
// ARGV[1] a fresh epoch, used only when a new history starts; ARGV[2] and ARGV[3] the epoch
// this instance follows and the highest seq it has seen in it.
//
// A new history starts when Redis holds none (first use, or data lost) or when the one it
// holds went back in time: a seq lower than one already seen means a restore from an older
// snapshot or a lagging replica promoted, and counting on from there would issue ids twice.
// `ms` (Redis time when the history started, never lower than the previous one) is the first
// half of every stream entry id, so entries of a newer history sort after all older ones and a
// reader parked at an old position still receives them.
const PRELUDE = `
local function history()
  local meta = redis.call('HMGET', KEYS[1], 'epoch', 'ms', 'seq')
  if meta[1] and not (meta[1] == ARGV[2] and tonumber(meta[3]) < tonumber(ARGV[3])) then
    return meta[1], meta[2], tonumber(meta[3])
  end
  local now = redis.call('TIME')
  local ms = now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000))
  if meta[2] and tonumber(ms) <= tonumber(meta[2]) then
    ms = string.format('%d', tonumber(meta[2]) + 1)
  end
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'ms', ms, 'seq', 0)
  return ARGV[1], ms, 0
end

-- The seq of an entry id '<ms>-<seq>' of this history, else 0.
local function seqIn(id, ms)
  local dash = string.find(id, '-', 1, true)
  if string.sub(id, 1, dash - 1) == ms then return tonumber(string.sub(id, dash + 1)) end
  return 0
end

-- The seq of a topic's final event in this history, from its finished mark; 0 if none.
local function finishedAt(key, ms)
  local mark = redis.call('GET', key)
  if mark then return seqIn(mark, ms) end
  return 0
end
`

/** KEYS: meta. Returns { epoch, ms, seq }: where a reader starts or resumes. */
export const HISTORY_SCRIPT = script(`
local epoch, ms, seq = history()
return { epoch, ms, seq }
`)

/**
 * KEYS: meta, log, dropped, the topic's stream, the topic's finished mark. ARGV[4..9]: topic,
 * event, data, history, log length, last ('1' or '0'). Numbers the event, adds it to the shared
 * log every instance reads and to the topic's stream (capped at `history`), and records the
 * newest entry the cap pushed out, so a replay knows exactly which resume points are gone. A
 * final event also marks the topic finished (for `finishedTtl` ms, ARGV[10]). Returns
 * { epoch, seq }, or { epoch, 0 } when the topic was already finished: nothing is written.
 */
export const APPEND_SCRIPT = script(`
local epoch, ms = history()
local keep = tonumber(ARGV[7])
-- Every read that can fail comes before the first write: a script that fails halfway keeps
-- its writes, and an event must be written everywhere or nowhere. (XLEN and HLEN fail on a
-- key of another type, as the writes to it would.)
redis.call('XLEN', KEYS[2])
redis.call('HLEN', KEYS[3])
if finishedAt(KEYS[5], ms) > 0 then return { epoch, 0 } end
local trimmed = false
if keep > 0 then
  local excess = redis.call('XLEN', KEYS[4]) - keep + 1
  if excess > 0 then
    local oldest = redis.call('XRANGE', KEYS[4], '-', '+', 'COUNT', excess)
    trimmed = oldest[#oldest][1]
  end
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local id = ms .. '-' .. string.format('%d', seq)
if ARGV[9] == '1' then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[8], id, 't', ARGV[4], 'e', ARGV[5], 'd', ARGV[6], 'l', '1')
  redis.call('SET', KEYS[5], id, 'PX', ARGV[10])
else
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[8], id, 't', ARGV[4], 'e', ARGV[5], 'd', ARGV[6])
end
if keep == 0 then
  redis.call('HSET', KEYS[3], ARGV[4], id)
else
  if trimmed then redis.call('HSET', KEYS[3], ARGV[4], trimmed) end
  redis.call('XADD', KEYS[4], 'MAXLEN', keep, id, 'e', ARGV[5], 'd', ARGV[6], 'l', ARGV[9])
end
return { epoch, seq }
`)

/**
 * KEYS: meta, log. ARGV[4]: a topic. Adds an entry that asks every instance to end the streams
 * on that topic, in order with the events before it. Returns { epoch, seq }.
 */
export const DISCONNECT_SCRIPT = script(`
local epoch, ms = history()
redis.call('XLEN', KEYS[2])
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], ms .. '-' .. string.format('%d', seq), 'x', ARGV[4])
return { epoch, seq }
`)

/**
 * KEYS: meta, dropped, then one stream per topic, then one finished mark per topic (count
 * topics each). ARGV[4], ARGV[5]: the epoch and seq of the client's Last-Event-ID (seq -1 when
 * it has none); ARGV[6..]: the topic names.
 * Returns { epoch, newest seq, then per topic: dropped-up-to seq, entries after the point the
 * replay starts from, the seq of its final event or 0 }. That point is computed as
 * `planReplay` does, so only needed entries travel; `planReplay` then decides on them in
 * JavaScript, the same way for every store.
 */
export const REPLAY_SCRIPT = script(`
local epoch, ms, newest = history()
local count = (#KEYS - 2) / 2
local last = -1
if ARGV[4] == epoch and tonumber(ARGV[5]) <= newest then last = tonumber(ARGV[5]) end
local dropped = {}
local complete = 0
for i = 1, count do
  local mark = redis.call('HGET', KEYS[2], ARGV[5 + i])
  local upTo = 0
  if mark then upTo = seqIn(mark, ms) end
  dropped[i] = upTo
  if upTo > complete then complete = upTo end
end
local from = complete
if last >= complete then from = last end
local result = { epoch, newest }
for i = 1, count do
  result[#result + 1] = dropped[i]
  result[#result + 1] = redis.call('XRANGE', KEYS[2 + i], '(' .. ms .. '-' .. string.format('%d', from), '+')
  result[#result + 1] = finishedAt(KEYS[2 + count + i], ms)
end
return result
`)

/**
 * KEYS: meta, then one stream per topic, then one finished mark per topic (count topics each).
 * ARGV[4]: how many of the newest entries of each topic, or -1 for all. Returns { epoch, newest
 * seq, then per topic: its newest entries of this history, oldest first, the seq of its final
 * event or 0 }.
 */
export const BACKFILL_SCRIPT = script(`
local epoch, ms, newest = history()
local count = (#KEYS - 1) / 2
local wanted = tonumber(ARGV[4])
local result = { epoch, newest }
for i = 1, count do
  local entries = {}
  if wanted < 0 then
    entries = redis.call('XRANGE', KEYS[1 + i], ms .. '-0', '+')
  elseif wanted > 0 then
    entries = redis.call('XREVRANGE', KEYS[1 + i], '+', ms .. '-0', 'COUNT', wanted)
    local n = #entries
    for j = 1, math.floor(n / 2) do entries[j], entries[n + 1 - j] = entries[n + 1 - j], entries[j] end
  end
  result[#result + 1] = entries
  result[#result + 1] = finishedAt(KEYS[1 + count + i], ms)
end
return result
`)

function script (body: string): RedisScript {
  const source = PRELUDE + body
  return { source, sha: createHash('sha1').update(source).digest('hex') }
}
