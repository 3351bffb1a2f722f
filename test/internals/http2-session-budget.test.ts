import { test } from 'tap'
import type { Writable } from 'node:stream'
import { SessionBudget, sessionMemoryOf, takenByNode, type BudgetedStream } from '../../lib/http2-session-budget'

/** A stream whose client the test drives: what it has not read yet, how much of it Node has taken. */
class FakeStream implements BudgetedStream {
  takenBytes = 0
  budgetedBytes = 0
  ended = false
  /** How often the budget read `unsentBytes`. */
  reads = 0
  private unsent = 0

  constructor (private readonly budget: SessionBudget) {}

  get unsentBytes (): number {
    this.reads++
    return this.unsent
  }

  set unsentBytes (bytes: number) {
    this.unsent = bytes
  }

  /** As a LiveStream does: it leaves the budget with what Node took. */
  end (): void {
    this.ended = true
    this.budget.remove(this, this.takenBytes)
  }
}

/** Streams of one budget (10 MB of session memory: 5 MB for them). */
function setUp (count: number, onSpend = (): void => {}): { budget: SessionBudget, streams: FakeStream[] } {
  const budget = new SessionBudget(10e6, onSpend)
  const streams = Array.from({ length: count }, () => {
    const stream = new FakeStream(budget)
    budget.add(stream)
    return stream
  })
  return { budget, streams }
}

/** Writes `bytes` to `stream` if the budget admits them, as LiveStream does; Node takes them if it had nothing. */
function write (budget: SessionBudget, stream: FakeStream, bytes: number, turn: number): boolean {
  if (!budget.admit(stream, bytes, turn)) return false
  if (stream.takenBytes === 0) stream.takenBytes = bytes
  stream.unsentBytes += bytes
  return true
}

test('admits writes while the streams hold at most half the session memory, recounting what drained once per turn', async (t) => {
  const { budget, streams: [a, b] } = setUp(2)
  t.ok(write(budget, a, 3e6, 1))
  t.ok(write(budget, b, 2e6, 1), '5 MB fits')
  a.unsentBytes = a.takenBytes = 0 // a's client read everything: seen at the next recount
  t.ok(write(budget, b, 1e6, 2), 'the next turn recounts: 3 MB')
  t.notOk(a.ended || b.ended)
})

test('over the budget, the streams are recounted at most once per turn', async (t) => {
  const { budget, streams: [a, b, c, d] } = setUp(4)
  t.ok(write(budget, a, 5e6, 1))
  t.notOk(write(budget, c, 1e6, 1))
  const reads = a.reads
  t.notOk(write(budget, d, 1e6, 1))
  t.equal(a.reads, reads, 'not read again in the same turn')
  t.notOk(write(budget, b, 1e6, 2))
  t.equal(a.reads, reads + 1, 'read again in the next')
})

test('over the budget, the stream being written is dropped when the others hold only what Node took', async (t) => {
  const { budget, streams: [a, b, c] } = setUp(3)
  t.ok(write(budget, a, 2e6, 1))
  t.ok(write(budget, b, 2e6, 1))
  t.notOk(write(budget, c, 2e6, 1), 'nothing written')
  t.same([a.ended, b.ended, c.ended], [false, false, true])
})

test('over the budget, the stream with the most bytes waiting behind what Node took is dropped first', async (t) => {
  const { budget, streams: [a, b, c] } = setUp(3)
  t.ok(write(budget, a, 1e6, 1))
  t.ok(write(budget, a, 3e6, 1), 'waits behind the first write')
  t.ok(write(budget, b, 1e6, 1))
  t.ok(write(budget, c, 1.5e6, 2), 'a is dropped, freeing its 3 MB waiting')
  t.same([a.ended, b.ended, c.ended], [true, false, false])
})

test('a stream alone holding anything is not refused: maxBufferedBytes bounds it', async (t) => {
  const { budget, streams: [a, b] } = setUp(2)
  t.ok(write(budget, a, 8e6, 1))
  t.ok(write(budget, a, 8e6, 1))
  t.notOk(a.ended)
  t.ok(write(budget, b, 1, 1), 'once another stream holds something, the budget applies')
  t.ok(a.ended)
})

test('what ended streams left with Node stays counted; at a quarter of the session memory, the session is spent once and the budget stops', async (t) => {
  let spent = 0
  const { budget, streams } = setUp(4, () => { spent++ })
  t.ok(write(budget, streams[0], 2e6, 1))
  t.ok(write(budget, streams[1], 2e6, 1))
  streams[0].end()
  t.equal(spent, 0)
  t.notOk(write(budget, streams[2], 1.5e6, 2), '2 MB held, 2 MB lost: 1.5 MB more does not fit')
  streams[1].end()
  t.equal(spent, 1, '4 MB lost: spent')
  t.ok(write(budget, streams[3], 8e6, 3), 'no new stream can come: nothing to keep room for')
  budget.remove(streams[3], 8e6)
  t.equal(spent, 1)
})

test('what Node took from a stream: the write in progress, or every unsent byte when its state cannot be read', async (t) => {
  const stream = (state: unknown): Writable => ({ _writableState: state, writableLength: 500 }) as unknown as Writable
  t.equal(takenByNode(stream({ writing: true, writelen: 100 })), 100)
  t.equal(takenByNode(stream({ writing: false, writelen: 100 })), 0)
  t.equal(takenByNode(stream({ writing: true })), 500)
  t.equal(takenByNode(stream({ writelen: 100 })), 500)
  t.equal(takenByNode(stream(undefined)), 500)
})

test('the session memory is the server\'s maxSessionMemory, in bytes; Node\'s default without it', async (t) => {
  const withOptions = (options: unknown): object => ({ [Symbol('options')]: options })
  t.equal(sessionMemoryOf({}), 10e6)
  t.equal(sessionMemoryOf(withOptions(undefined)), 10e6)
  t.equal(sessionMemoryOf(withOptions({})), 10e6)
  t.equal(sessionMemoryOf(withOptions({ maxSessionMemory: '20' })), 10e6)
  t.equal(sessionMemoryOf(withOptions({ maxSessionMemory: 20 })), 20e6)
  t.equal(sessionMemoryOf(withOptions({ maxSessionMemory: 2.5 })), 2e6, 'whole units, as Node takes them')
  t.equal(sessionMemoryOf(withOptions({ maxSessionMemory: 0.5 })), 1e6, 'at least one')
})
