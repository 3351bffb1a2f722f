// What is left of topics the memory store forgot: for each of a fixed number of buckets (a hash
// of the topic), the newest seq any of its topics dropped. A topic that is no longer kept is
// taken as complete only after its bucket's seq, so a client that missed an event of a
// forgotten topic is reset (`expired`), never silently skipped; a topic sharing its bucket may
// be reset needlessly, which the contract allows. The memory is fixed whatever the number of
// topics, and allocated only once a topic is forgotten.

const BUCKETS = 1 << 16

export class ForgottenTopics {
  private droppedUpTo: Float64Array | undefined

  /** Records that `topic` is no longer kept and had dropped every event up to `seq`. */
  forget (topic: string, seq: number): void {
    if (seq === 0) return
    const buckets = this.droppedUpTo ??= new Float64Array(BUCKETS)
    const bucket = bucketOf(topic)
    if (seq > buckets[bucket]) buckets[bucket] = seq
  }

  /** The newest seq that `topic` may have dropped while it was not kept (0: none). */
  droppedUpToOf (topic: string): number {
    return this.droppedUpTo === undefined ? 0 : this.droppedUpTo[bucketOf(topic)]
  }
}

/** FNV-1a over the UTF-16 code units, folded to the bucket count. */
export function bucketOf (topic: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < topic.length; i++) hash = Math.imul(hash ^ topic.charCodeAt(i), 0x01000193)
  return (hash >>> 0) & (BUCKETS - 1)
}
