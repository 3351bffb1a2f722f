// What the event streams of one HTTP/2 session hold unsent, kept within a share of the session's
// memory limit. Node counts the bytes a stream has taken for sending against its session (a
// buffer written to many streams once per stream) and, past `maxSessionMemory`, refuses new
// streams with NGHTTP2_ENHANCE_YOUR_CALM: a browser multiplexes all its tabs over one session, so
// its page's own requests would fail. A stream takes one write at a time and, when it is done,
// everything written meanwhile, so all its unsent bytes may end up counted. Node also never gives
// back what a destroyed stream had taken (Node.js 20 to 24): that is counted here for good too.
import type { Writable } from 'node:stream'

/** Node's default `maxSessionMemory`, in its unit of 1,000,000 bytes. */
const NODE_DEFAULT_SESSION_MEMORY = 10

/**
 * The event streams may hold half the session's limit; the rest is for the page's own requests
 * and responses on the same session, their headers, and Node's own use (about 1 KB per stream).
 */
const EVENT_STREAMS_SHARE = 0.5

/** What the budget needs from an event stream. */
export interface BudgetedStream {
  /** Bytes written to the stream and not sent yet. */
  readonly unsentBytes: number
  /** Of those, what Node has taken for sending (`takenByNode`): the rest waits in the stream. */
  readonly takenBytes: number
  /** Its unsent bytes as its session's budget last counted them. */
  budgetedBytes: number
  /** Drops it as too far behind; it leaves the budget (`remove`) at once. */
  end: (reason: 'slow') => void
}

export class SessionBudget {
  private readonly limit: number
  private readonly spend: () => void
  private readonly streams = new Set<BudgetedStream>()
  /** Unsent bytes of the open streams: exact after a recount, an upper bound in between (streams only drain). */
  private held = 0
  /** What ended streams left with Node, which it keeps counting against the session. */
  private lost = 0
  private recountedTurn = -1
  private spent = false

  /**
   * `spend` is called once, when ended streams have left half the budget with Node: it closes
   * the session gracefully, after which no new stream can come and the budget no longer applies.
   */
  constructor (sessionMemory: number, spend: () => void) {
    this.limit = sessionMemory * EVENT_STREAMS_SHARE
    this.spend = spend
  }

  add (stream: BudgetedStream): void {
    stream.budgetedBytes = stream.unsentBytes
    this.held += stream.budgetedBytes
    this.streams.add(stream)
  }

  /**
   * Before `stream` is written `bytes`: true when they fit, after dropping the streams furthest
   * behind if need be; false when `stream` itself was dropped. They fit when the session then
   * holds at most the budget, or when the stream is the only one holding anything: a lone burst
   * or replay is bound by `maxBufferedBytes` alone, as on HTTP/1.1. O(1) while within the budget;
   * over it, an exact recount at most once per turn of the event loop, and a scan per drop.
   */
  admit (stream: BudgetedStream, bytes: number, turn: number): boolean {
    const unsent = stream.unsentBytes
    this.held += unsent - stream.budgetedBytes
    stream.budgetedBytes = unsent
    if (!this.spent && !this.fits(stream, bytes)) {
      this.recount(turn)
      while (!this.spent && !this.fits(stream, bytes)) {
        const dropped = this.mostWaiting(stream, bytes)
        dropped.end('slow')
        if (dropped === stream) return false
      }
    }
    stream.budgetedBytes += bytes
    this.held += bytes
    return true
  }

  /** `stream` ended, leaving `lostBytes` with Node, which will not give them back. */
  remove (stream: BudgetedStream, lostBytes: number): void {
    this.streams.delete(stream)
    this.held -= stream.budgetedBytes
    this.lost += lostBytes
    if (!this.spent && this.lost >= this.limit / 2) {
      this.spent = true
      this.spend()
    }
  }

  private fits (stream: BudgetedStream, bytes: number): boolean {
    return this.held === stream.budgetedBytes || this.held + this.lost + bytes <= this.limit
  }

  /**
   * The stream to drop: the one with the most bytes still waiting in it, `bytes` counting as
   * waiting in `stream`. Dropping a stream frees those; what Node took from it stays counted, so
   * dropping one that holds only that would free nothing.
   */
  private mostWaiting (stream: BudgetedStream, bytes: number): BudgetedStream {
    let chosen = stream
    let most = stream.budgetedBytes - stream.takenBytes + bytes
    for (const other of this.streams) {
      const waiting = other.budgetedBytes - other.takenBytes
      if (waiting > most) {
        chosen = other
        most = waiting
      }
    }
    return chosen
  }

  /** The exact figure. Nothing drains within a turn, so once per turn is enough. */
  private recount (turn: number): void {
    if (turn === this.recountedTurn) return
    this.recountedTurn = turn
    let held = 0
    for (const stream of this.streams) {
      stream.budgetedBytes = stream.unsentBytes
      held += stream.budgetedBytes
    }
    this.held = held
  }
}

/**
 * What Node has taken from a stream for sending, and counts against its session: the write in
 * progress (those behind it wait in the stream, uncounted), at most. Read from Node's stream
 * state; where that cannot be read, every unsent byte.
 */
export function takenByNode (stream: Writable): number {
  const state = (stream as { _writableState?: { writing?: unknown, writelen?: unknown } })._writableState
  if (typeof state?.writing !== 'boolean' || typeof state.writelen !== 'number') return stream.writableLength
  return state.writing ? state.writelen : 0
}

/**
 * The `maxSessionMemory` an HTTP/2 server was created with, in bytes. Node keeps it only among
 * the server's own options, under a symbol; without it, Node's default applies. Node takes the
 * whole number of its unit, at least 1.
 */
export function sessionMemoryOf (server: object): number {
  const key = Object.getOwnPropertySymbols(server).find((symbol) => symbol.description === 'options')
  const options = key === undefined ? undefined : (server as Record<symbol, { maxSessionMemory?: unknown } | undefined>)[key]
  const megabytes = options?.maxSessionMemory
  return (typeof megabytes === 'number' && megabytes > 0 ? Math.max(1, Math.floor(megabytes)) : NODE_DEFAULT_SESSION_MEMORY) * 1e6
}
