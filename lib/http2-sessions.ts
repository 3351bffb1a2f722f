// The HTTP/2 sessions that carried an event stream, closed with the app. Before Node.js 24
// nothing else closes them (unless Fastify's `forceCloseConnections` is set). A graceful close
// waits for the session's streams and then for its socket to flush, which a client that stopped
// reading never lets happen: such a session is cut after a short grace. A session that only
// has ordinary requests still in flight is left to finish them. Each session also keeps what its
// event streams hold unsent within a budget (http2-session-budget).
import type { Http2Session, Http2Stream } from 'node:http2'
import { SessionBudget, type BudgetedStream } from './http2-session-budget'

/** How long a closing session may take to deliver the end of its event streams. */
const GRACE_MS = 250

interface Tracked {
  /** Its event streams not yet closed. */
  readonly streams: Set<Http2Stream>
  readonly cut: () => void
  readonly budget: SessionBudget
}

export class Http2Sessions {
  private readonly open = new Map<Http2Session, Tracked>()
  private readonly closing = new WeakSet<Http2Session>()
  private readonly sessionMemory: number

  /** `sessionMemory`: the server's `maxSessionMemory`, in bytes. */
  constructor (sessionMemory: number) {
    this.sessionMemory = sessionMemory
  }

  /** The HTTP/2 stream of an event stream that just opened; returns its session's budget. */
  track (stream: Http2Stream, eventStream: BudgetedStream): SessionBudget {
    const session = stream.session as Http2Session
    let tracked = this.open.get(session)
    if (tracked === undefined) {
      // A session its dropped streams spent is closed gracefully (GOAWAY): the browser opens a
      // new one for its next requests, and the requests in flight finish.
      tracked = { streams: new Set(), cut: cutterOf(session), budget: new SessionBudget(this.sessionMemory, () => session.close()) }
      this.open.set(session, tracked)
      session.once('close', () => this.open.delete(session))
    }
    const streams = tracked.streams
    streams.add(stream)
    stream.once('close', () => streams.delete(stream))
    tracked.budget.add(eventStream)
    return tracked.budget
  }

  /** Closes every tracked session (once): gracefully, and by force if stuck after the grace. */
  closeAll (): void {
    for (const [session, { streams, cut }] of this.open) {
      if (this.closing.has(session)) continue
      this.closing.add(session)
      session.close()
      const timer = setTimeout(() => {
        // Stuck: an event stream that cannot finish, or a destroyed session still flushing.
        if (streams.size > 0 || session.destroyed) cut()
      }, GRACE_MS)
      timer.unref()
      session.once('close', () => clearTimeout(timer))
    }
  }
}

/**
 * How to cut a session's connection. Its socket proxy refuses destroy(), and a destroyed
 * session lets go of the socket while it waits to flush it, so the means is taken now: the
 * plain socket's resetAndDestroy (bound to it by the proxy), or under TLS the TCP socket that
 * the TLS one wraps. Destroying the session as well would leave Node spinning at exit.
 */
function cutterOf (session: Http2Session): () => void {
  try {
    const socket = session.socket as unknown as { encrypted?: boolean, _parent?: { destroy: () => void }, resetAndDestroy: () => void }
    // Under TLS, the connection is the TCP socket the TLS one wraps.
    const tcp = socket.encrypted === true ? socket._parent : undefined
    const reset = tcp === undefined ? socket.resetAndDestroy : () => tcp.destroy()
    return () => {
      try {
        reset()
      /* c8 ignore next 3 -- never seen: a timer must not throw whatever the socket does */
      } catch {
        session.destroy()
      }
    }
  /* c8 ignore next 3 -- a Node.js whose socket proxy refuses that too */
  } catch {
    return () => { session.destroy() }
  }
}
