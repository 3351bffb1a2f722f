// The appends of one turn of the event loop, gathered so that they reach Redis in one round
// trip and one script call (APPEND_SCRIPT): a loop of publishes, or many callers at once, cost
// one call per turn instead of one per event. Pure data: the store sends what this builds.

/** '0' an event, '1' a topic's final event, 'x' a disconnect of the topic. */
export type EntryKind = '0' | '1' | 'x'

export interface QueuedEntry {
  readonly topic: string
  readonly event: string
  readonly data: string
  readonly kind: EntryKind
  /** The topic's `history`, asked when the entry was made (the app's function may throw). */
  readonly history: number
  resolve (answer: { epoch: string, seq: number }): void
  reject (err: unknown): void
}

/**
 * At most this many entries, or about this many bytes of data, go in one script call. (The
 * script unpack()s four values per entry into one XADD: Lua's stack takes 8,000 at most.)
 */
const MAX_ENTRIES = 1000
const MAX_BYTES = 1024 * 1024

/** Splits the entries of a turn into batches, each small enough for one call, in order. */
export function batchesOf (entries: readonly QueuedEntry[]): QueuedEntry[][] {
  const batches: QueuedEntry[][] = []
  let batch: QueuedEntry[] = []
  let bytes = 0
  for (const entry of entries) {
    if (batch.length === MAX_ENTRIES || (batch.length > 0 && bytes + entry.data.length > MAX_BYTES)) {
      batches.push(batch)
      batch = []
      bytes = 0
    }
    batch.push(entry)
    bytes += entry.data.length
  }
  batches.push(batch)
  return batches
}

/**
 * The keys and arguments of APPEND_SCRIPT for one batch, after the keys and arguments every
 * script starts with: each topic's list once, then each entry naming its topic by number.
 */
export function appendCall (batch: readonly QueuedEntry[], listPrefix: string, logLength: number, historyMaxAge: number): { keys: string[], args: Array<string | number> } {
  const numbers = new Map<string, number>()
  const keys: string[] = []
  const topicArgs: Array<string | number> = []
  const entryArgs: Array<string | number> = []
  for (const entry of batch) {
    let n = numbers.get(entry.topic)
    if (n === undefined) {
      numbers.set(entry.topic, n = numbers.size + 1)
      keys.push(listPrefix + entry.topic)
      topicArgs.push(entry.topic, entry.history)
    }
    entryArgs.push(n, entry.event, entry.data, entry.kind)
  }
  return { keys, args: [logLength, historyMaxAge, numbers.size, ...topicArgs, ...entryArgs] }
}
