import { test } from 'tap'
import { planReplay } from '../../lib/store/plan-replay'
import type { SseStoredEvent } from '../../lib/store/types'

const ev = (seq: number, topic: string): SseStoredEvent => ({ seq, id: `ep-${seq}`, topic, event: 'e', data: '1' })

test('resumes exactly after the client position, merging topics in publish order', async (t) => {
  const a = { events: [ev(1, 'a'), ev(3, 'a'), ev(6, 'a')], droppedUpTo: 0 }
  const b = { events: [ev(2, 'b'), ev(4, 'b'), ev(5, 'b')], droppedUpTo: 0 }
  const replay = planReplay('ep', 2, [a, b])
  t.equal(replay.reset, undefined)
  t.equal(replay.after, 2)
  t.same(replay.events.map((e) => e.seq), [3, 4, 5, 6])
})

test('expired when a topic dropped an event after the client position', async (t) => {
  const a = { events: [ev(5, 'a'), ev(7, 'a')], droppedUpTo: 3 }
  const b = { events: [ev(2, 'b'), ev(6, 'b')], droppedUpTo: 0 }
  const replay = planReplay('ep', 1, [a, b])
  t.same(replay.reset, { reason: 'expired', id: 'ep-3' })
  t.equal(replay.after, 3)
  t.same(replay.events.map((e) => e.seq), [5, 6, 7])
})

test('unknown ids restart from where every topic is complete', async (t) => {
  const replay = planReplay('ep', undefined, [{ events: [ev(4, 'a')], droppedUpTo: 2 }])
  t.same(replay.reset, { reason: 'unknown', id: 'ep-2' })
  t.same(replay.events.map((e) => e.seq), [4])
  t.same(planReplay('ep', undefined, []).reset, { reason: 'unknown', id: 'ep-0' })
})

test('a position exactly at the dropped point still resumes', async (t) => {
  const replay = planReplay('ep', 3, [{ events: [ev(4, 'a')], droppedUpTo: 3 }])
  t.equal(replay.reset, undefined)
  t.same(replay.events.map((e) => e.seq), [4])
})
