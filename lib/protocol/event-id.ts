// Event ids: `<epoch>-<seq>`. The epoch names one history (a hub start, or one Redis
// keyspace), so an id from before a restart is never mistaken for a new one; `seq` is the
// single sequence every topic shares, so ids order all events in publish order.
import { randomBytes } from 'node:crypto'

const EPOCH = /^[0-9a-z]{1,32}$/

/** A new epoch: the start time plus random bits, so two hubs started in the same ms differ. */
export function newEpoch (): string {
  return Date.now().toString(36) + randomBytes(4).toString('hex')
}

export function isEpoch (text: string): boolean {
  return EPOCH.test(text)
}

export function formatEventId (epoch: string, seq: number): string {
  return epoch + '-' + seq
}

/**
 * The sequence number of `id` when it belongs to `epoch` and is not beyond `newestSeq`,
 * else `undefined`: an id this history never issued.
 */
export function parseEventId (id: string, epoch: string, newestSeq: number): number | undefined {
  const dash = id.lastIndexOf('-')
  if (dash <= 0 || id.slice(0, dash) !== epoch) return undefined
  const digits = id.slice(dash + 1)
  if (!/^(0|[1-9][0-9]{0,15})$/.test(digits)) return undefined
  const seq = Number(digits)
  return seq <= newestSeq ? seq : undefined
}
