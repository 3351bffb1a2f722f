// Exactness under eviction, property-style, on both stores (issue 12): random publishes across
// many topics with small limits (history per topic, historyMaxAge), random reconnects from
// random earlier ids. Every reconnect gets exactly the events it missed, or an `sse-reset`
// (`expired`) from whose id it then gets exactly the rest: never a gap, never a duplicate.
// SEED=<n> replays a run; the seed is printed.
import { test } from 'tap'
import { setTimeout as delay } from 'node:timers/promises'
import { redisStore } from '../lib/redis'
import { MemoryStore } from '../lib/store/memory-store'
import type { SseReplay, SseStore } from '../lib/store/types'
import { listen } from './helpers/app'
import { redisSkip, testPrefix } from './helpers/redis'

const TOPICS = 12
const HISTORY = [0, 1, 2, 3, 5, 8]
const MAX_AGE = 250
const RUN_MS = 2500

/** mulberry32: a small seeded PRNG, floats in [0, 1). */
function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

interface Published { seq: number, id: string, topic: string, at: number }

const seqOf = (id: string): number => Number(id.slice(id.lastIndexOf('-') + 1))

const cases: Array<{ name: string, skip: string | false, store: (t: Parameters<typeof testPrefix>[0]) => SseStore, ages: boolean }> = [
  { name: 'memory', skip: false, store: () => new MemoryStore(), ages: false },
  { name: 'redis', skip: redisSkip, store: (t) => redisStore({ url: 'redis://127.0.0.1:6379', keyPrefix: testPrefix(t) }), ages: true }
]

for (const { name, skip, store: makeStore, ages } of cases) {
  test(`${name}: every reconnect gets exactly what it missed, or sse-reset and exactly the rest`, { skip }, async (t) => {
    const seed = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31))
    t.comment(`seed ${seed} (SEED=${seed} to replay)`)
    const random = prng(seed)
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]
    const store = makeStore(t)
    // Through a real app: the hub gives the store its context (history per topic, age limit).
    const { app } = await listen(t, { history: (topic) => HISTORY[Number(topic.slice(1)) % HISTORY.length], historyMaxAge: MAX_AGE, store })
    const topics = Array.from({ length: TOPICS }, (_, i) => `t${i}`)
    // Some topics busy, some rare: rare ones are forgotten between their events.
    const weights = topics.map((_, i): number => (i % 3 === 0 ? 8 : i % 3 === 1 ? 2 : 0.3))
    const total = weights.reduce((a, b) => a + b)
    const pickTopic = (): string => {
      let r = random() * total
      for (let i = 0; i < TOPICS; i++) if ((r -= weights[i]) < 0) return topics[i]
      return topics[TOPICS - 1]
    }
    const published: Published[] = []
    const ids: string[] = [store.newestId()]
    let reconnects = 0
    let resets = 0

    const expected = (chosen: readonly string[], after: number): string[] =>
      published.filter((e) => e.seq > after && chosen.includes(e.topic)).map((e) => e.id)

    /** What is wrong with a replay, else an empty list. */
    const check = (replay: SseReplay, chosen: readonly string[], lastId: string, askedAt: number): string[] => {
      const got = replay.events.map((e) => e.id).join(' ')
      const wrong: string[] = []
      if (replay.reset === undefined) {
        const missed = expected(chosen, seqOf(lastId)).join(' ')
        if (got !== missed) wrong.push(`missed [${missed}], got [${got}]`)
      } else {
        resets++
        const rest = expected(chosen, replay.after).join(' ')
        if (replay.reset.reason !== 'expired') wrong.push(`reset ${replay.reset.reason}`)
        if (seqOf(replay.reset.id) !== replay.after || replay.after <= seqOf(lastId)) wrong.push(`reset to ${replay.reset.id}, after ${replay.after}`)
        if (got !== rest) wrong.push(`after the reset: [${rest}], got [${got}]`)
      }
      // historyMaxAge is the Redis store's here (the memory store's comes with its own branch).
      if (ages) {
        const stale = replay.events.filter((e) => (published.find((p) => p.id === e.id) as Published).at < askedAt - MAX_AGE)
        if (stale.length > 0) wrong.push(`older than historyMaxAge: ${stale.map((e) => e.id).join(' ')}`)
      }
      return wrong.map((why) => `topics ${chosen.join(',')} from ${lastId}: ${why}`)
    }
    const failures: string[] = []

    const started = Date.now()
    while (Date.now() - started < RUN_MS) {
      const op = random()
      if (op < 0.6) {
        const topic = pickTopic()
        const { id } = await app.sse.publish({ event: 'n', data: published.length, topic })
        published.push({ seq: seqOf(id), id, topic, at: Date.now() })
        ids.push(id)
      } else if (op < 0.7) {
        await delay(Math.floor(random() * 60))
      } else if (op < 0.75) {
        ids.push(store.newestId())
      } else {
        const chosen = [...new Set(Array.from({ length: 1 + Math.floor(random() * 3) }, pickTopic))]
        // Mostly a recent id, as a reconnecting client holds; sometimes any earlier one.
        const lastId = random() < 0.7 ? pick(ids.slice(-6)) : pick(ids)
        const askedAt = Date.now()
        const replay = await store.replay(chosen, { lastEventId: lastId })
        failures.push(...check(replay, chosen, lastId, askedAt))
        reconnects++
        // The reconnect's own position, as the client now holds it, is a later resume point.
        const last = replay.events.length > 0 ? replay.events[replay.events.length - 1].id : replay.reset?.id
        if (last !== undefined) ids.push(last)
      }
    }
    t.comment(`${published.length} publishes, ${reconnects} reconnects, ${resets} resets`)
    t.same(failures, [], `no gap, no duplicate (seed ${seed})`)
    t.ok(reconnects > 20, 'enough reconnects to mean something')
  })
}
