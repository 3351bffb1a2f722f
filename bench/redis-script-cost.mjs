// Redis time per event (issue 13.3): what one Redis core can take, whatever the app's own CPU.
// A private redis-server; one store opened directly (no app, no clients); publishes in batches
// of 1, 10, 50, 200 and 1,000 concurrent appends (one turn each), on one topic and spread over
// 50; Redis' own `INFO commandstats` (usec of EVALSHA, which includes the commands the script
// runs, and of the reader's XREAD) divided by the events. With --alt, the build in that checkout
// too, interleaved, for a before/after in one run.
//
//   node bench/redis-script-cost.mjs [--reps=2] [--alt=/path/to/checkout] [--json]
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { flags, numberFlag } from './common/flags.mjs'
import { buildsToCompare } from './common/compare.mjs'
import { adminClient, privateRedis } from './common/redis-server.mjs'
import { median } from './report.mjs'

const args = flags()
const REPS = numberFlag(args, 'reps', 2)
const CALLS = 50
const WARM = 20
const BATCHES = [1, 10, 50, 200, 1000]
const SPREADS = [1, 50]
const builds = buildsToCompare(args)

/** µs of Redis time per event for one build, batch size and topic spread, on a fresh keyspace. */
async function measure (root, admin, url, batch, topics) {
  const { redisStore } = createRequire(join(root, 'package.json'))(join(root, 'dist', 'redis.js'))
  const store = redisStore({ url, keyPrefix: `cost-${batch}-${topics}` })
  await store.open({ history: () => 1000, historyMaxAge: 3_600_000, historyMaxBytes: 1e9, hasStreams: () => false, deliver () {}, disconnect () {} })
  const round = () => Promise.all(Array.from({ length: batch }, (_, i) => store.append(`t${i % topics}`, 'n', `{"n":${i}}`)))
  for (let i = 0; i < WARM; i++) await round()
  await admin.config('RESETSTAT')
  for (let i = 0; i < CALLS; i++) await round()
  const stats = await admin.info('commandstats')
  await store.close()
  await admin.flushall()
  const usec = (name) => Number(new RegExp(`^cmdstat_${name}:calls=\\d+,usec=(\\d+)`, 'm').exec(stats)?.[1] ?? 0)
  const events = CALLS * batch
  return { script: usec('evalsha') / events, read: usec('xread') / events }
}

const redis = await privateRedis({ core: 0 })
const admin = adminClient(redis.url)
const results = {}
try {
  for (let rep = 0; rep < REPS; rep++) {
    for (const topics of SPREADS) {
      for (const batch of BATCHES) {
        const order = rep % 2 === 0 ? builds : [...builds].reverse()
        for (const build of order) {
          const key = `${build.id} ${topics} ${batch}`
          const found = await measure(build.root, admin, redis.url, batch, topics)
          ;(results[key] ??= []).push(found)
          if (args.json === undefined) console.log(`rep ${rep + 1} ${build.id}: ${topics} topic(s), batches of ${batch}: script ${found.script.toFixed(2)} µs/event, XREAD ${found.read.toFixed(2)} µs/event`)
        }
      }
    }
  }
} finally {
  admin.disconnect()
  await redis.stop()
}

const rows = Object.entries(results).map(([key, runs]) => {
  const [build, topics, batch] = key.split(' ')
  const script = median(runs.map((r) => r.script))
  const read = median(runs.map((r) => r.read))
  // One Redis core, two instances reading: 1e6 µs / (script + 2 × read).
  return { build, topics: Number(topics), batch: Number(batch), script, read, perCoreTwoInstances: Math.round(1e6 / (script + 2 * read)) }
})
if (args.json !== undefined) console.log(JSON.stringify({ reps: REPS, rows }))
else {
  console.log(`\nRedis µs per event, median of ${REPS} repetition(s); events/s one Redis core takes with two instances reading`)
  console.log('build  topics  batch   script µs   XREAD µs   events/s per core')
  for (const r of rows) console.log(`${r.build.padEnd(6)} ${String(r.topics).padStart(6)} ${String(r.batch).padStart(6)} ${r.script.toFixed(2).padStart(11)} ${r.read.toFixed(2).padStart(10)} ${r.perCoreTwoInstances.toLocaleString('en').padStart(19)}`)
}
