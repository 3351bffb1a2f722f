// Micro-benchmarks of the hot-path pieces, imported from dist/: the wire encoder, the event
// validator (against the check and JSON.stringify it replaced) and the ring buffer (and event ids). A plain hrtime loop: each sample times a batch
// long enough (≥ 1 ms) for the timer not to matter; the median ns per operation is reported.
//
//   node bench/micro.mjs            a table
//   node bench/micro.mjs --json     one JSON line (what run.mjs reads; `node bench/report.mjs
//                                   --docs --micro=FILE` puts a saved one in the docs)
//   node bench/micro.mjs --time=500 milliseconds of samples per case (default 400)
import { createRequire } from 'node:module'
import { loadavg } from 'node:os'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gitCommit } from './common/git-commit.mjs'

const rootRequire = createRequire(new URL('../package.json', import.meta.url))
const { encodeEvent, encodeComment } = rootRequire('./dist/protocol/encode.js')
const { EventChecker } = rootRequire('./dist/schemas.js')
const { RingBuffer } = rootRequire('./dist/store/ring-buffer.js')
const { formatEventId, parseEventId } = rootRequire('./dist/protocol/event-id.js')
const { Type } = rootRequire('@sinclair/typebox')
const { TypeCompiler } = rootRequire('@sinclair/typebox/compiler')

const json = process.argv.includes('--json')
const timeArg = process.argv.find((arg) => arg.startsWith('--time='))
const TIME_MS = timeArg ? Number(timeArg.slice(7)) : 400

let sink = 0
function consume (value) {
  sink = (sink + (typeof value === 'string' ? value.length : value === undefined ? 1 : 2)) | 0
}

const now = () => process.hrtime.bigint()

function measure (group, name, fn) {
  let batch = 1
  for (;;) {
    const t0 = now()
    for (let i = 0; i < batch; i++) fn(i)
    if (Number(now() - t0) >= 1e6 || batch >= 1 << 26) break
    batch *= 2
  }
  // Warm up, then sample.
  const warmUntil = Date.now() + TIME_MS / 4
  while (Date.now() < warmUntil) for (let i = 0; i < batch; i++) fn(i)
  const samples = []
  const until = Date.now() + TIME_MS
  while (Date.now() < until || samples.length < 5) {
    const t0 = now()
    for (let i = 0; i < batch; i++) fn(i)
    samples.push(Number(now() - t0) / batch)
  }
  samples.sort((a, b) => a - b)
  const nsPerOp = samples[samples.length >> 1]
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length
  const sd = Math.sqrt(samples.reduce((a, b) => a + (b - mean) ** 2, 0) / (samples.length - 1))
  return { group, name, nsPerOp, opsPerSec: 1e9 / nsPerOp, rme: (1.96 * sd / Math.sqrt(samples.length) / mean) * 100, samples: samples.length }
}

function payload (size, seq = 12345) {
  const t = '1234567890123'
  return { s: seq, t, p: 'x'.repeat(Math.max(0, size - 20 - String(seq).length - t.length)) }
}

const cases = []
const add = (group, name, fn) => cases.push({ group, name, fn })

// Encoder: one frame per publish, shared by every client.
for (const size of [64, 256, 1024]) {
  const data = JSON.stringify(payload(size))
  add('encoder', `encodeEvent, ${size} B single-line data`, (i) => consume(encodeEvent('mww8qrtr7b8f170d-' + i, 'tick', data)))
}
{
  const data = JSON.stringify(payload(256)).replace(/x{40}/g, (m) => m + '\n').slice(0, 256)
  add('encoder', 'encodeEvent, 256 B data with line breaks', (i) => consume(encodeEvent('mww8qrtr7b8f170d-' + i, 'tick', data)))
}
{
  const data = JSON.stringify(payload(256))
  add('encoder', 'Buffer.from(encodeEvent), 256 B (the hub\'s frame)', (i) => consume(Buffer.from(encodeEvent('mww8qrtr7b8f170d-' + i, 'tick', data)).length))
}
add('encoder', 'encodeComment', () => consume(encodeComment('keep-alive')))

// Validator: the projection to what the schema declares, its compiled TypeBox check and
// JSON.stringify, once per publish.
{
  const schema = Type.Object({ s: Type.Integer({ minimum: 0 }), t: Type.String(), p: Type.String() })
  const typed = new EventChecker({ tick: schema })
  const untyped = new EventChecker(undefined)
  const data = payload(256)
  add('validator', 'serialize, declared event, 256 B', () => consume(typed.serialize('tick', data)))
  add('validator', 'serialize, no `events` option, 256 B', () => consume(untyped.serialize('tick', data)))
  const nested = new EventChecker({
    order: Type.Object({
      id: Type.String(),
      items: Type.Array(Type.Object({ sku: Type.String(), qty: Type.Integer({ minimum: 1 }) })),
      total: Type.Number()
    })
  })
  const order = { id: 'o-1', items: Array.from({ length: 5 }, (_, k) => ({ sku: `sku-${k}`, qty: k + 1 })), total: 42.5 }
  add('validator', 'serialize, nested object with 5-item array', () => consume(nested.serialize('order', order)))
  const bad = { s: -1, t: 'x', p: '' }
  // Issue 14: serialize projects the data to what its schema declares, checks that and stringifies
  // it; before, it checked the data and stringified all of it (the second line of each pair).
  const small = Type.Object({ id: Type.String(), count: Type.Integer({ minimum: 0 }), ok: Type.Boolean() })
  const medium = Type.Object({
    order: Type.String(),
    customer: Type.Object({ name: Type.String(), email: Type.String(), tier: Type.Union([Type.Literal('free'), Type.Literal('pro')]) }),
    items: Type.Array(Type.Object({ sku: Type.String(), qty: Type.Integer({ minimum: 1 }), price: Type.Number() })),
    total: Type.Number()
  })
  const wire = new EventChecker({ small, medium })
  const samples = {
    small: { id: 'evt-1234', count: 42, ok: true },
    medium: {
      order: 'o-1',
      customer: { name: 'Ada', email: 'ada@example.com', tier: 'pro' },
      items: Array.from({ length: 20 }, (_, k) => ({ sku: `sku-${k}`, qty: k + 1, price: 9.5 + k })),
      total: 1234.5
    }
  }
  for (const [event, label] of [['small', 'small (3 fields)'], ['medium', 'medium (nested, 20 items)']]) {
    const check = TypeCompiler.Compile(event === 'small' ? small : medium)
    const data = samples[event]
    add('validator', `serialize, ${label}`, () => consume(wire.serialize(event, data)))
    add('validator', `check + JSON.stringify, ${label}`, () => {
      if (!check.Check(data)) throw new Error('invalid sample')
      consume(JSON.stringify(data))
    })
  }
  add('validator', 'serialize, failing check (error built)', () => {
    try {
      typed.serialize('tick', bad)
    } catch (err) {
      consume(err.code)
    }
  })
}

// Ring buffer: the per-topic replay history.
{
  const full = new RingBuffer(1024)
  for (let i = 0; i < 1024; i++) full.push(i)
  add('ring buffer', 'push into a full ring of 1024 (evicts)', (i) => consume(full.push(i)))
  const odd = new RingBuffer(1000)
  for (let i = 0; i < 1000; i++) odd.push(i)
  add('ring buffer', 'push into a full ring of 1000 (not a power of two)', (i) => consume(odd.push(i)))
  add('ring buffer', 'at(i) over 1000 retained items (per item)', (i) => consume(odd.at(i % 1000)))
  add('ring buffer', 'fill a new ring of 1000 from empty (per push)', (i) => {
    const ring = new RingBuffer(1000)
    for (let k = 0; k < 1000; k++) ring.push(k)
    consume(ring.length)
  })
}

// Event ids: formatted once per publish, parsed once per reconnect.
add('event id', 'formatEventId', (i) => consume(formatEventId('mww8qrtr7b8f170d', i)))
add('event id', 'parseEventId (valid)', (i) => consume(parseEventId('mww8qrtr7b8f170d-' + (i & 1023), 'mww8qrtr7b8f170d', 1 << 20)))

const results = []
for (const { group, name, fn } of cases) {
  const result = measure(group, name, fn)
  if (name.startsWith('fill a new ring')) {
    // One sample times 1000 pushes plus one allocation: report it per push.
    result.nsPerOp /= 1000
    result.opsPerSec *= 1000
  }
  results.push(result)
  if (!json) console.log(`${group.padEnd(12)} ${name.padEnd(52)} ${result.nsPerOp.toFixed(1).padStart(9)} ns/op  ${Math.round(result.opsPerSec).toLocaleString('en-US').padStart(14)} ops/s  ±${result.rme.toFixed(1)}%`)
}
if (json) {
  const root = dirname(dirname(fileURLToPath(import.meta.url)))
  console.log(JSON.stringify({ timeMs: TIME_MS, node: process.version, commit: gitCommit(root), date: new Date().toISOString(), loadAfter: loadavg(), results, sink }))
}
