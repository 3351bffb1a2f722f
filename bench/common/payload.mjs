// The event every contender publishes: its sequence number, the publish time and padding up to
// exactly `size` bytes of JSON. Shared by the servers (which stamp it) and the load generator.

export const EVENT_NAME = 'tick'

const PAD = 'x'.repeat(1 << 16)
// `{"s":` + `,"t":"` + `","p":"` + `"}`
const FIXED = 20

/**
 * The payload of event `seq`, stamped now with `process.hrtime.bigint()` (one monotonic clock
 * for every process on Linux), as an object whose JSON text is `size` bytes long.
 */
export function makeData (seq, size) {
  const t = String(process.hrtime.bigint())
  const room = size - FIXED - String(seq).length - t.length
  return { s: seq, t, p: room > 0 ? PAD.slice(0, room) : '' }
}

/** The same payload as JSON text, for contenders that take a string. */
export function makeJson (seq, size) {
  return JSON.stringify(makeData(seq, size))
}
