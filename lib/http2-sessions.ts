// The HTTP/2 sessions that carried an event stream, closed with the app. Before Node.js 24
// nothing else closes them (unless Fastify's `forceCloseConnections` is set), and a graceful
// close waits for streams a client that stopped reading never lets finish: so after a short
// grace, a session still open is cut.
import type { Http2Session } from 'node:http2'

/** How long a closing session may take to deliver the end of its streams. */
const GRACE_MS = 250

export class Http2Sessions {
  /**
   * Each session, and how to cut its connection. A destroyed session still waits to flush its
   * socket (which a stalled client never reads) and lets go of it, and the socket it exposes
   * refuses destroy(): its resetAndDestroy, bound to the real socket, is taken while it is bound.
   */
  private readonly open = new Map<Http2Session, () => void>()

  /** A session of a stream that just opened (so it is not destroyed). */
  track (session: Http2Session): void {
    if (this.open.has(session)) return
    let cut: () => void
    try {
      cut = (session.socket as unknown as { resetAndDestroy: () => void }).resetAndDestroy
    /* c8 ignore start -- a Node.js whose socket proxy refuses that too: destroying is all there is */
    } catch {
      cut = () => {}
    }
    /* c8 ignore stop */
    this.open.set(session, cut)
    session.once('close', () => this.open.delete(session))
  }

  /** Closes every tracked session: gracefully, then by force after the grace period. */
  closeAll (): void {
    for (const [session, cut] of this.open) {
      session.close() // a no-op on a session already closing
      const timer = setTimeout(() => {
        session.destroy()
        cut()
      }, GRACE_MS)
      timer.unref()
      session.once('close', () => clearTimeout(timer))
    }
  }
}
