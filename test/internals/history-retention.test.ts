import { test } from 'tap'
import { HistoryRetention } from '../../lib/store/history-retention'
import { ForgottenTopics } from '../../lib/store/forgotten-topics'
import { eventBytes, markBytes, stringBytes, topicBytes } from '../../lib/store/retained-size'
import type { SseStoredEvent } from '../../lib/store/types'

let seq = 0
const ev = (topic: string, data = '1'): SseStoredEvent => ({ seq: ++seq, id: `ep-${seq}`, topic, event: 'e', data })
const seqsOf = (retention: HistoryRetention, topic: string, now = 0): number[] => {
  const ring = retention.logOf(topic, now).ring
  const seqs: number[] = []
  if (ring !== undefined) for (let i = 0; i < ring.length; i++) seqs.push((ring.at(i) as { event: SseStoredEvent }).event.seq)
  return seqs
}

function retention (limits: { maxAge?: number, maxBytes?: number, streams?: Set<string> } = {}): HistoryRetention {
  const streams = limits.streams ?? new Set()
  return new HistoryRetention({ maxAge: limits.maxAge ?? 0, maxBytes: limits.maxBytes ?? Infinity, hasStreams: (topic) => streams.has(topic) })
}

test('sizes: UTF-8 bytes, or two bytes a character when V8 may keep the string two-byte', async (t) => {
  t.equal(stringBytes('abc'), 3)
  t.equal(stringBytes('é'), 2)
  t.equal(stringBytes('aaaaé'), 10, 'two-byte representation costs more than its UTF-8')
  t.equal(stringBytes('日本'), 6)
  t.ok(eventBytes('t', 'e', 'data') > 6)
  t.ok(topicBytes('t') > 1)
  t.ok(markBytes('t') > 1)
})

test('counts events and their topics; the count per topic drops the oldest', async (t) => {
  const r = retention()
  const a1 = ev('a')
  r.retain(a1, 2, 0)
  t.equal(r.bytes, topicBytes('a') + eventBytes('a', 'e', '1'))
  t.equal(r.capacityOf('a'), 2)
  t.equal(r.capacityOf('b'), undefined)
  r.retain(ev('a'), 2, 0)
  r.retain(ev('a'), 2, 0)
  t.same(seqsOf(r, 'a'), [a1.seq + 1, a1.seq + 2])
  t.equal(r.logOf('a', 0).droppedUpTo, a1.seq)
  t.equal(r.topics, 1)
  t.equal(r.bytes, topicBytes('a') + 2 * eventBytes('a', 'e', '1'))
})

test('over the byte budget, the least recently published topics lose their oldest events first', async (t) => {
  const one = eventBytes('a', 'e', '1')
  const r = retention({ maxBytes: 2 * topicBytes('a') + 4 * one })
  const a = [ev('a'), ev('a')]
  const b = [ev('b'), ev('b')]
  for (const e of a) r.retain(e, 10, 0)
  for (const e of b) r.retain(e, 10, 0)
  t.equal(r.topics, 2)
  const a3 = ev('a')
  r.retain(a3, 10, 0) // a is now the most recently published: b pays
  t.same(seqsOf(r, 'b'), [b[1].seq])
  t.same(seqsOf(r, 'a'), [a[0].seq, a[1].seq, a3.seq])
  const c = ev('c')
  r.retain(c, 10, 0) // b makes room, its topic's own bytes with it
  t.same(seqsOf(r, 'b'), [], 'b emptied')
  t.equal(r.logOf('b', 0).droppedUpTo, b[1].seq, 'and forgotten, its dropped point kept')
  t.same(seqsOf(r, 'a'), [a[0].seq, a[1].seq, a3.seq])
  t.same(seqsOf(r, 'c'), [c.seq])
  t.equal(r.bytes, 2 * topicBytes('a') + 4 * one)
  t.equal(r.topics, 2)
  r.retain(ev('c'), 10, 0)
  t.same(seqsOf(r, 'a'), [a[1].seq, a3.seq], 'then the oldest of a')
})

test('an event bigger than the whole budget is not kept; history 0 keeps nothing', async (t) => {
  const r = retention({ maxBytes: 100 })
  const big = ev('a', 'x'.repeat(200))
  r.retain(big, 10, 0)
  t.equal(r.topics, 0)
  t.equal(r.bytes, 0)
  t.equal(r.logOf('a', 0).droppedUpTo, big.seq)
  const none = ev('z')
  r.retain(none, 0, 0)
  t.equal(r.logOf('z', 0).droppedUpTo, none.seq)
})

test('age: events older than maxAge are dropped on append, on replay and by the sweep', async (t) => {
  const r = retention({ maxAge: 100 })
  const old = ev('a')
  r.retain(old, 10, 0)
  const young = ev('a')
  r.retain(young, 10, 50)
  t.same(seqsOf(r, 'a', 100), [old.seq, young.seq], 'exactly maxAge old: still kept')
  t.same(seqsOf(r, 'a', 101), [young.seq], 'trimmed when read')
  const later = ev('a')
  r.retain(later, 10, 180)
  t.same(seqsOf(r, 'a', 180), [later.seq], 'trimmed on append')
  const b = ev('b')
  r.retain(b, 10, 200)
  const c = ev('c')
  r.retain(c, 10, 400)
  r.sweep(301) // a (newest at 180) and b (200) have aged out entirely; c is young: the walk stops
  t.equal(r.topics, 1)
  t.equal(r.logOf('a', 301).droppedUpTo, later.seq)
  t.equal(r.logOf('b', 301).droppedUpTo, b.seq)
  t.same(seqsOf(r, 'c', 301), [c.seq])
})

test('the sweep trims the old head of the first young topic and stops there', async (t) => {
  const r = retention({ maxAge: 100 })
  const a1 = ev('a')
  r.retain(a1, 10, 0)
  const b1 = ev('b')
  r.retain(b1, 10, 10)
  const a2 = ev('a')
  r.retain(a2, 10, 90) // order: b (10), a (90)
  r.sweep(150)
  t.equal(r.logOf('b', 150).droppedUpTo, b1.seq)
  t.equal(r.topics, 1)
  const ring = r.logOf('a', 150).ring
  t.equal(ring?.length, 1)
})

test('a topic emptied while a stream is open on it stays exact; forgotten by the sweep once it has none', async (t) => {
  const streams = new Set(['a'])
  const r = retention({ maxBytes: topicBytes('a') + eventBytes('a', 'e', '1'), streams })
  const a1 = ev('a')
  r.retain(a1, 10, 0)
  r.retain(ev('q'), 10, 0) // pushes a out of the budget
  const a = r.logOf('a', 0)
  t.equal(a.ring, undefined)
  t.equal(a.droppedUpTo, a1.seq)
  r.sweep(0)
  t.equal(r.logOf('a', 0), a, 'still held while its stream is open')
  const a2 = ev('a')
  r.retain(a2, 10, 0) // revived from the idle record
  t.same(seqsOf(r, 'a'), [a2.seq])
  t.equal(r.logOf('a', 0).droppedUpTo, a1.seq)
  r.retain(ev('q'), 10, 0)
  streams.clear()
  r.sweep(0)
  t.not(r.logOf('a', 0), a, 'forgotten')
  t.equal(r.logOf('a', 0).droppedUpTo, a2.seq)
})

test('a forgotten topic published again starts from its forgotten point', async (t) => {
  const r = retention({ maxBytes: topicBytes('a') + eventBytes('a', 'e', '1') })
  const a1 = ev('a')
  r.retain(a1, 10, 0)
  r.retain(ev('b'), 10, 0)
  const a2 = ev('a')
  r.retain(a2, 10, 0)
  t.same(seqsOf(r, 'a'), [a2.seq])
  t.equal(r.logOf('a', 0).droppedUpTo, a1.seq)
})

test('finished marks: kept maxAge, counted in bytes, then dropped lazily or by the sweep', async (t) => {
  const r = retention({ maxAge: 100 })
  r.finish('a', 7, 0)
  r.finish('b', 8, 50)
  t.equal(r.bytes, markBytes('a') + markBytes('b'))
  t.equal(r.finalSeqOf('a', 100), 7)
  t.equal(r.finalSeqOf('nope', 100), undefined)
  t.equal(r.finalSeqOf('a', 101), undefined, 'expired when asked')
  t.equal(r.bytes, markBytes('b'))
  r.finish('c', 9, 140)
  r.sweep(151)
  t.equal(r.finalSeqOf('b', 151), undefined)
  t.equal(r.finalSeqOf('c', 151), 9, 'the sweep stops at the first young mark')
  t.equal(r.bytes, markBytes('c'))
})

test('finished marks with no age limit: kept until the budget needs their room, after every event', async (t) => {
  const r = retention({ maxBytes: 2 * markBytes('a') })
  r.finish('a', 1, 0)
  r.finish('b', 2, 0)
  t.equal(r.finalSeqOf('a', 1e12), 1, 'no age limit')
  r.finish('c', 3, 0)
  t.equal(r.finalSeqOf('a', 0), undefined, 'the oldest mark made room')
  t.equal(r.finalSeqOf('b', 0), 2)
  t.equal(r.finalSeqOf('c', 0), 3)
  const withAge = retention({ maxAge: 10, maxBytes: 1 })
  withAge.finish('a', 1, 0)
  t.equal(withAge.finalSeqOf('a', 10), 1, 'with an age limit a mark outlives the budget for its age')
})

test('clear forgets everything', async (t) => {
  const r = retention()
  r.retain(ev('a'), 10, 0)
  r.finish('a', seq, 0)
  r.clear()
  t.equal(r.bytes, 0)
  t.equal(r.topics, 0)
})

test('forgotten topics: one bucket per hash, the newest dropped seq of its topics', async (t) => {
  const f = new ForgottenTopics()
  t.equal(f.droppedUpToOf('a'), 0, 'nothing allocated yet')
  f.forget('a', 0)
  t.equal(f.droppedUpToOf('a'), 0)
  f.forget('a', 5)
  f.forget('a', 3)
  t.equal(f.droppedUpToOf('a'), 5)
  t.equal(f.droppedUpToOf('some other topic'), 0)
})
