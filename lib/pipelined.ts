// HTTP/1.1 responses queued behind another on the same connection (pipelined requests). Node
// gives such a response its socket only when the one before it finishes, and when the
// connection closes first it tells neither the response nor a request whose body was read:
// only the socket knows. Their streams wait here, unregistered, until their turn comes.
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

/** What a waiting stream needs: to learn that its client is gone. */
export interface WaitingStream {
  clientGone (): void
}

export class PipelinedResponses {
  private readonly bySocket = new WeakMap<Socket, Set<WaitingStream>>()

  /** True when `res` has no socket yet: another response on its connection goes first. */
  static waits (res: ServerResponse): boolean {
    return res.socket === null
  }

  /** Calls `ready` when `res` gets its turn, or ends `stream` if the connection closes first. */
  wait (stream: WaitingStream, res: ServerResponse, ready: () => void): void {
    const socket = res.req.socket
    let waiting = this.bySocket.get(socket)
    if (waiting === undefined) {
      const streams = waiting = new Set()
      this.bySocket.set(socket, streams)
      // One listener per connection, however many requests it pipelines.
      socket.once('close', () => {
        this.bySocket.delete(socket)
        for (const queued of streams) queued.clientGone()
      })
    }
    waiting.add(stream)
    res.once('socket', () => {
      waiting.delete(stream)
      ready()
    })
  }
}
