// Bounds the commands of one connection by `timeout`, the way Redis answers them: in order. A
// command is late only once it is the oldest unanswered one and `timeout` has passed both since
// it was sent and since the command before it was answered. So one slow command (a long script,
// a busy Redis) fails alone: the commands queued behind it, which Redis runs right after it, keep
// waiting their own turn instead of failing with it although they ran. Two late commands in a
// row, with no answer in between, mean the connection is dead: every command on it fails then.
const LATE_IN_A_ROW_IS_DEAD = 2

interface Tracked {
  readonly sent: number
  readonly reject: (err: Error) => void
  settled: boolean
}

export class CommandDeadlines {
  private readonly timeout: number
  private readonly onDead: () => void
  /** Unanswered commands, oldest first. */
  private pending: Tracked[] = []
  private timer: NodeJS.Timeout | undefined
  private lateInARow = 0

  constructor (timeout: number, onDead: () => void) {
    this.timeout = timeout
    this.onDead = onDead
  }

  /** `running`, rejected once it is late; an answer that comes after that is dropped. */
  track<T> (running: Promise<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      const entry: Tracked = { sent: Date.now(), reject, settled: false }
      this.pending.push(entry)
      if (this.pending.length === 1) this.watchHead(entry.sent)
      running.then((value) => {
        this.answered(entry)
        resolve(value)
      }, (err: unknown) => {
        this.answered(entry)
        reject(err)
      })
    })
  }

  /** Fails every command still waiting (the connection is going away); no timer stays behind. */
  failAll (err: Error): void {
    clearTimeout(this.timer)
    const pending = this.pending
    this.pending = []
    for (const entry of pending) {
      entry.settled = true
      entry.reject(err)
    }
  }

  private answered (entry: Tracked): void {
    if (entry.settled) return
    entry.settled = true
    this.lateInARow = 0
    const at = this.pending.indexOf(entry)
    this.pending.splice(at, 1)
    if (at === 0) this.watchHead(Date.now())
  }

  private watchHead (since: number): void {
    clearTimeout(this.timer)
    const head = this.pending[0]
    if (head === undefined) return
    // It could be answered once sent and once the command before it was.
    const from = Math.max(head.sent, since)
    // Unref'd: the connection holds the process while it waits, not this timer after close().
    this.timer = setTimeout(() => this.late(), from + this.timeout - Date.now()).unref()
  }

  private late (): void {
    const head = this.pending.shift() as Tracked
    head.settled = true
    head.reject(new Error(`fastify-sse-hub: Redis did not answer within ${this.timeout} ms`))
    if (++this.lateInARow < LATE_IN_A_ROW_IS_DEAD) {
      this.watchHead(Date.now())
      return
    }
    this.lateInARow = 0
    this.failAll(new Error(`fastify-sse-hub: Redis answered nothing for ${LATE_IN_A_ROW_IS_DEAD * this.timeout} ms: the connection is taken for dead`))
    this.onDead()
  }
}
