// Exactness under eviction, property-style, on both stores: random publishes across many topics
// with small limits (count, age, bytes), random reconnects from random earlier ids. Each reconnect must get
// exactly the events of its topics after its id, in order, or an sse-reset whose id then
// resumes exactly: never a silent gap, never a duplicate. Seeded: HISTORY_SEED=<n> replays a run.
import { test } from 'tap'
import { listen } from './helpers/app'
import { stores } from './helpers/stores'
import { MemoryStore } from '../lib/store/memory-store'
import type { SseReplay, SseStore } from '../lib/store/types'

const TOPICS = 24
const PUBLISHES = 2500
const MAX_AGE = 200

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), a | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const seqOf = (id: string): number => Number(id.slice(id.lastIndexOf('-') + 1))

interface Published { seq: number, id: string, topic: string, at: number }

for (const store of stores) {
  test(`${store.name}: every reconnect gets exactly what it missed, or a reset that then resumes exactly`, { skip: store.skip }, async (t) => {
    const seed = Number(process.env.HISTORY_SEED ?? Math.floor(Math.random() * 2 ** 31))
    t.comment(`seed ${seed} (HISTORY_SEED=${seed} to run it again)`)
    const random = prng(seed)
    const pick = (n: number): number => Math.floor(random() * n)

    // The memory store is aged by an injected clock; the Redis store by real time.
    let clock = 0
    const now = store.name === 'memory' ? () => clock : Date.now
    const sseStore: SseStore = store.name === 'memory' ? new MemoryStore({ now, sweepInterval: 1 }) : store.options(t).store as SseStore
    const { app } = await listen(t, {
      store: sseStore,
      history: (topic) => Number(topic.slice(1)) % 5, // 0 to 4 events, 0 included
      historyMaxAge: MAX_AGE,
      historyMaxBytes: 6000
    })

    const published: Published[] = []
    const finishedAt = new Map<string, number>()
    let resets = 0
    let exact = 0

    /** Checks a replay asked for at `askedAt` against what was published on `topics` after `lastSeq`. */
    function check (topics: string[], lastSeq: number, replay: SseReplay, askedAt: number, what: string): number | undefined {
      const resumeSeq = replay.reset === undefined ? lastSeq : seqOf(replay.reset.id)
      if (replay.reset !== undefined) {
        t.equal(replay.reset.reason, 'expired', `${what}: an id of this history is expired, not unknown`)
        if (resumeSeq < lastSeq) t.fail(`${what}: the reset goes back before the client's position`)
      }
      const expected = published.filter((e) => e.seq > resumeSeq && topics.includes(e.topic)).map((e) => e.seq)
      const got = replay.events.map((e) => e.seq)
      if (got.length !== expected.length || got.some((seq, i) => seq !== expected[i])) {
        t.same(got, expected, `${what}: topics ${topics.join(',')} after ${lastSeq}${replay.reset === undefined ? '' : ` (reset to ${resumeSeq})`}`)
        return undefined
      }
      // (2 ms for Redis's own clock rounding.)
      const stale = published.filter((e) => got.includes(e.seq) && e.at < askedAt - MAX_AGE - (store.name === 'memory' ? 0 : 2))
      if (stale.length > 0) t.fail(`${what}: replayed events older than historyMaxAge: ${stale.map((e) => e.id).join(' ')}`)
      return replay.reset === undefined ? undefined : resumeSeq
    }

    for (let step = 0; step < PUBLISHES; step++) {
      clock += pick(10)
      // Redis ages in real time: now and then a pause past historyMaxAge, so topics are forgotten.
      if (store.name === 'redis' && random() < 0.004) await new Promise((resolve) => setTimeout(resolve, 150 + pick(150)))
      const topic = `t${pick(TOPICS)}`
      const last = random() < 0.01
      const data = 'x'.repeat(pick(120))
      const startedAt = now()
      try {
        const { id } = await app.sse.publish({ event: 'e', data, topic, last })
        const finished = finishedAt.get(topic)
        // The mark lasts historyMaxAge from the final event's append, which Redis made at some
        // point of its publish call (its start counts; 2 ms for Redis's own clock rounding).
        const since = finished === undefined ? Infinity : now() - finished
        if (store.name === 'memory' ? since <= MAX_AGE : since < MAX_AGE - 2) t.fail(`${topic} took an event ${since} ms after its final one`)
        published.push({ seq: seqOf(id), id, topic, at: now() })
        if (last) finishedAt.set(topic, startedAt)
        else finishedAt.delete(topic)
      } catch (err) {
        t.equal((err as { code?: string }).code, 'FST_SSE_TOPIC_FINISHED')
        t.ok(finishedAt.has(topic), `${topic} was refused though it was never finished`)
        continue
      }

      if (random() < 0.5) {
        const topics = [...new Set(Array.from({ length: 1 + pick(3) }, () => `t${pick(TOPICS)}`))]
        // Mostly recent ids, which may resume exactly; sometimes any earlier one.
        const from = published[random() < 0.7 ? published.length - 1 - pick(Math.min(published.length, 40)) : pick(published.length)]
        const lastSeq = random() < 0.05 ? 0 : from.seq
        const lastEventId = `${from.id.slice(0, from.id.lastIndexOf('-'))}-${lastSeq}`
        // Asked before the replay starts: Redis ages events by when its script runs, which is later.
        const askedAt = now()
        const resumeSeq = check(topics, lastSeq, await sseStore.replay(topics, { lastEventId }), askedAt, 'reconnect')
        if (resumeSeq === undefined) {
          exact++
        } else {
          resets++
          // The client drops right after the reset: reconnecting with its id resumes exactly, unless
          // (Redis, in real time) more of its events reached historyMaxAge meanwhile.
          const againAt = now()
          const again = await sseStore.replay(topics, { lastEventId: `${from.id.slice(0, from.id.lastIndexOf('-'))}-${resumeSeq}` })
          if (store.name === 'memory') t.equal(again.reset, undefined, 'the reset id resumes without another reset')
          check(topics, resumeSeq, again, againAt, 'reconnect with the reset id')
        }
      }
    }
    t.comment(`${published.length} events, ${exact} exact resumes, ${resets} resets`)
    t.ok(exact > 0 && resets > 0, 'both outcomes were exercised')
  })
}
