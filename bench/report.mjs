// Turns a results file into the Markdown report, the SVG chart and a console summary.
// `node bench/report.mjs [results.json] [--docs]` summarises saved results (and rewrites the docs).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const BENCH = dirname(fileURLToPath(import.meta.url))
const COLORS = {
  hub: '#1f5fbf',
  'hub-redis': '#7fa8e8',
  'hub-redis-alt': '#b9cff2',
  'node-http': '#3a3a3a',
  'fastify-hijack': '#8c8c8c',
  'better-sse': '#d9661f',
  'fastify-sse': '#2e9e4f',
  'fastify-sse-v2': '#8e5cc2'
}

export function median (values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return NaN
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

function fmt (n, digits = 0) {
  return Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a'
}

function kilo (n) {
  if (!Number.isFinite(n)) return 'n/a'
  if (n === 0) return '0'
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${Math.round(n / 1e3)}k`
}

function escapeXml (text) {
  return String(text).replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c])
}

function cellTitle (cell) {
  if (cell.mode === 'answers') {
    return `${fmt(cell.clients)} answers × ${fmt(cell.tokens)} ${cell.json ? 'JSON' : 'text'} tokens` +
      (cell.pace > 0 ? `, one every ${fmt(cell.pace)} ms` : ', a ready source')
  }
  if (cell.mode === 'stall') return 'One client that stops reading: what the server holds for it'
  if (cell.mode === 'users') return `${fmt(cell.clients)} users × 1 event, on two topics vs one`
  return cell.mode === 'idle'
    ? `${fmt(cell.clients)} idle connections`
    : `${fmt(cell.clients)} clients × ${fmt(cell.events)} events × ${fmt(cell.size)} B` +
      (cell.window === undefined ? '' : `, ${fmt(cell.window)} publishes in flight`)
}

/** A burst cell whose publisher keeps `window` publishes in flight (issue 13), not each awaited. */
function isWindowCell (cell) {
  return cell.mode === 'burst' && cell.window !== undefined
}

/** Each Redis store contender and the memory store of the same build. */
const MEMORY_OF = { 'hub-redis': 'hub', 'hub-redis-alt': 'hub-alt' }
/** Issue 13: the Redis store's deliveries/s at least this share of the memory store's, same publisher. */
const REDIS_VS_MEMORY = 0.8

/** Whether `contender` runs in `cell`: the cell lists it, or lists none and it is not `listedOnly`. */
export function runsIn (cell, contender) {
  return cell.only === undefined ? contender.listedOnly !== true : cell.only.includes(contender.id)
}

/** The contenders of a cell: those of the run it came from (merged cells keep their own). */
function contendersOf (results, cell) {
  return (cell.run?.contenders ?? results.contenders).filter((c) => runsIn(cell, c))
}

/** Per cell and contender: the runs, the failures and the medians; per repetition: the ratios. */
export function aggregate (results) {
  const cells = []
  for (const cell of results.cells) {
    const rows = []
    for (const contender of contendersOf(results, cell)) {
      const runs = results.runs.filter((run) => run.cell === cell.id && run.contender === contender.id)
      const ok = runs.filter((run) => run.ok)
      const metric = (key) => median(ok.map((run) => run[key]))
      const common = {
        contender,
        runs: runs.length,
        ok: ok.length,
        failures: runs.filter((run) => !run.ok).map((run) => `rep ${run.rep + 1}: ${run.error}`)
      }
      if (cell.mode === 'users') {
        rows.push({ ...common, ...usersFigures(ok) })
        continue
      }
      if (cell.mode === 'answers') {
        rows.push({
          ...common,
          tokensPerSec: metric('tokensPerSec'),
          p50Ms: metric('p50Ms'),
          p99Ms: metric('p99Ms'),
          cpuUs: metric('serverCpuUsPerToken'),
          rssPeakMiB: metric('rssPeakMiB'),
          loadCpu: metric('loadCpuShare')
        })
        continue
      }
      if (cell.mode === 'stall') {
        rows.push({
          ...common,
          pulled: metric('pulled'),
          pulledBytes: metric('pulledBytes'),
          heldBytes: metric('heldBytes'),
          heldMax: Math.max(...ok.map((run) => run.heldBytes)),
          highWaterMark: metric('highWaterMark'),
          frameBytes: metric('frameBytes'),
          bound: metric('bound'),
          withinAll: ok.length > 0 && ok.every((run) => run.withinBound),
          asserted: ok.some((run) => run.asserted),
          rssMiB: metric('rssMiB')
        })
        continue
      }
      rows.push({
        ...common,
        deliveriesPerSec: metric('deliveriesPerSec'),
        p50Ms: metric('p50Ms'),
        p99Ms: metric('p99Ms'),
        cpuNs: metric('serverCpuNsPerDelivery'),
        loadCpu: metric('loadCpuShare'),
        acceptMs: metric('acceptMs'),
        acceptPerSec: metric('acceptPerSec'),
        rssPerConnKiB: metric('rssPerConnKiB'),
        heapPerConnKiB: metric('heapPerConnKiB'),
        acceptCpuUs: metric('serverCpuUsPerAccept')
      })
    }
    const ratiosOf = cell.mode === 'users' ? usersRatios : cell.mode === 'answers' ? answersRatios : cell.mode === 'stall' ? () => ({ each: {} }) : ratios
    cells.push({ cell, rows, ratios: ratiosOf(results, cell) })
  }
  return cells
}

/**
 * One contender's users runs: medians of both topic sets, and multi over single taken inside
 * each run (the two ran back to back), then their median.
 */
function usersFigures (runs) {
  const of = (topics, key) => median(runs.map((run) => run[topics][key]))
  const each = (key) => runs.map((run) => run.multi[key] / run.single[key]).filter(Number.isFinite)
  const figures = (topics) => Object.fromEntries(['blockedMs', 'loopMs', 'cpuMs', 'deliveryMs'].map((key) => [key, of(topics, key)]))
  return {
    single: figures('single'),
    multi: figures('multi'),
    blockedRatioEach: each('blockedMs'),
    blockedRatio: median(each('blockedMs')),
    cpuRatio: median(each('cpuMs')),
    deliveryRatio: median(each('deliveryMs'))
  }
}

/** The alt build against the plugin in each repetition (multi-topic streams). */
function usersRatios (results, cell) {
  const reps = [...new Set(results.runs.filter((run) => run.cell === cell.id).map((run) => run.rep))]
  const pick = (rep, id) => results.runs.find((run) => run.cell === cell.id && run.rep === rep && run.contender === id && run.ok)
  const ratio = (key) => median(reps.map((rep) => pick(rep, 'hub-alt')?.multi[key] / pick(rep, 'hub')?.multi[key]))
  return { each: {}, 'hub-alt': { blockedVsHub: ratio('blockedMs'), cpuVsHub: ratio('cpuMs'), deliveryVsHub: ratio('deliveryMs') } }
}

/** Ratios inside each repetition (contenders back to back), then the median over repetitions. */
function ratios (results, cell) {
  const reps = [...new Set(results.runs.filter((run) => run.cell === cell.id).map((run) => run.rep))]
  const contenders = contendersOf(results, cell)
  const libraries = contenders.filter((c) => c.kind === 'library').map((c) => c.id)
  const pick = (rep, id) => results.runs.find((run) => run.cell === cell.id && run.rep === rep && run.contender === id && run.ok)
  const per = (fn) => median(reps.map((rep) => fn(rep)))
  /** `field` of contender `a` over that of `b` in each repetition. */
  const each = (field, a, b) => reps.map((rep) => pick(rep, a)?.[field] / pick(rep, b)?.[field]).filter(Number.isFinite)
  /** The same, then the median. */
  const ratio = (field, a, b) => median(each(field, a, b))
  // Every contender against the ceilings, repetition by repetition, for the tables' ratio columns.
  const out = { each: {} }
  for (const { id } of contenders) {
    out.each[id] = cell.mode === 'idle'
      ? ratio('rssPerConnKiB', id, 'fastify-hijack')
      : ratio('deliveriesPerSec', id, 'node-http')
  }
  for (const ours of ['hub', 'hub-redis', 'hub-alt', 'hub-redis-alt']) {
    if (cell.mode === 'idle') {
      out[ours] = {
        rssVsHijack: ratio('rssPerConnKiB', ours, 'fastify-hijack'),
        acceptCpuVsHijack: ratio('serverCpuUsPerAccept', ours, 'fastify-hijack'),
        acceptCpuVsHub: ratio('serverCpuUsPerAccept', ours, 'hub'),
        acceptVsHub: ratio('acceptMs', ours, 'hub'),
        acceptVsHijack: ratio('acceptMs', ours, 'fastify-hijack'),
        acceptVsNode: ratio('acceptMs', ours, 'node-http'),
        acceptVsHijackEach: each('acceptMs', ours, 'fastify-hijack'),
        acceptVsNodeEach: each('acceptMs', ours, 'node-http')
      }
    } else {
      out[ours] = {
        vsNode: ratio('deliveriesPerSec', ours, 'node-http'),
        vsHijack: ratio('deliveriesPerSec', ours, 'fastify-hijack'),
        vsHub: ratio('deliveriesPerSec', ours, 'hub'),
        // A Redis store against the memory store of its build, repetition by repetition.
        vsMemory: MEMORY_OF[ours] === undefined ? NaN : ratio('deliveriesPerSec', ours, MEMORY_OF[ours]),
        vsMemoryEach: MEMORY_OF[ours] === undefined ? [] : each('deliveriesPerSec', ours, MEMORY_OF[ours]),
        p99VsMemory: MEMORY_OF[ours] === undefined ? NaN : ratio('p99Ms', ours, MEMORY_OF[ours]),
        cpuVsHub: ratio('serverCpuNsPerDelivery', ours, 'hub'),
        p99VsNode: ratio('p99Ms', ours, 'node-http'),
        vsBestLibrary: per((rep) => {
          const best = Math.max(...libraries.map((id) => pick(rep, id)?.deliveriesPerSec ?? NaN).filter(Number.isFinite))
          return pick(rep, ours)?.deliveriesPerSec / best
        })
      }
    }
    out[ours].allRunsOk = results.runs.filter((run) => run.cell === cell.id && run.contender === ours).every((run) => run.ok)
  }
  return out
}

/**
 * The answers cells: every contender's tokens/s, CPU per token and p99 over node:http's, and its
 * tokens/s over the best library's, inside each repetition, then the median.
 */
function answersRatios (results, cell) {
  const reps = [...new Set(results.runs.filter((run) => run.cell === cell.id).map((run) => run.rep))]
  const contenders = contendersOf(results, cell)
  const libraries = contenders.filter((c) => c.kind === 'library').map((c) => c.id)
  const pick = (rep, id) => results.runs.find((run) => run.cell === cell.id && run.rep === rep && run.contender === id && run.ok)
  const each = (field, a, b) => reps.map((rep) => pick(rep, a)?.[field] / pick(rep, b)?.[field]).filter(Number.isFinite)
  const out = { each: {}, vsBestLibrary: {}, cpuVsNode: {}, p99VsNode: {}, vsNodeEach: {}, vsBestLibraryEach: {} }
  for (const { id } of contenders) {
    out.vsNodeEach[id] = each('tokensPerSec', id, 'node-http')
    out.each[id] = median(out.vsNodeEach[id])
    out.cpuVsNode[id] = median(each('serverCpuUsPerToken', id, 'node-http'))
    out.p99VsNode[id] = median(each('p99Ms', id, 'node-http'))
    out.vsBestLibraryEach[id] = reps.map((rep) => {
      const best = Math.max(...libraries.filter((lib) => lib !== id).map((lib) => pick(rep, lib)?.tokensPerSec ?? NaN).filter(Number.isFinite))
      return pick(rep, id)?.tokensPerSec / best
    }).filter(Number.isFinite)
    out.vsBestLibrary[id] = median(out.vsBestLibraryEach[id])
  }
  out.altVsHub = { tokens: median(each('tokensPerSec', 'hub-alt', 'hub')), cpu: median(each('serverCpuUsPerToken', 'hub-alt', 'hub')), p99: median(each('p99Ms', 'hub-alt', 'hub')) }
  return out
}

/** The issue's targets, each met or not, with the figures behind the verdict. */
export function targets (cells) {
  const list = []
  const rowOf = (entry, id) => entry.rows.find((row) => row.contender.id === id)
  const present = (entry, ...ids) => ids.every((id) => rowOf(entry, id) !== undefined)
  const burst = cells.filter((entry) => entry.cell.mode === 'burst' && present(entry, 'hub', 'node-http'))
  if (burst.length > 0) {
    const t1 = burst.map((entry) => {
      const r = entry.ratios.hub
      return {
        ok: r.allRunsOk && r.vsNode >= 1 && r.p99VsNode <= 1,
        text: `${entry.cell.id}: ${fmt(r.vsNode, 2)}× node:http deliveries/s, p99 ${fmt(r.p99VsNode, 2)}× (${fmt(rowOf(entry, 'hub').p99Ms, 1)} ms vs ${fmt(rowOf(entry, 'node-http').p99Ms, 1)} ms)`
      }
    })
    list.push({ id: 1, target: 'Deliveries/s ≥ the node:http ceiling in every burst cell, p99 no worse', met: t1.every((t) => t.ok), figures: t1.map((t) => t.text) })
  }
  const withLibraries = cells.filter((entry) => entry.cell.mode === 'burst' && present(entry, 'hub') && entry.rows.some((row) => row.contender.kind === 'library'))
  if (withLibraries.length > 0) {
    const t2 = withLibraries.map((entry) => {
      const r = entry.ratios.hub
      return { ok: r.allRunsOk && r.vsBestLibrary >= 3, text: `${entry.cell.id}: ${fmt(r.vsBestLibrary, 2)}× the best library` }
    })
    list.push({ id: 2, target: '≥ 3× the best library in every burst cell', met: t2.every((t) => t.ok), figures: t2.map((t) => t.text) })
  }
  const idle = cells.find((entry) => entry.cell.mode === 'idle' && present(entry, 'hub', 'fastify-hijack'))
  if (idle !== undefined) {
    const r = idle.ratios.hub
    const nodeRow = rowOf(idle, 'node-http')
    list.push({
      id: '3a',
      target: 'RSS per idle connection ≤ 1.1× the hand-written Fastify route, 10,000 connections held',
      met: r.allRunsOk && r.rssVsHijack <= 1.1,
      figures: [`${fmt(rowOf(idle, 'hub').rssPerConnKiB, 1)} KiB vs ${fmt(rowOf(idle, 'fastify-hijack').rssPerConnKiB, 1)} KiB per connection: ${fmt(r.rssVsHijack, 2)}×; all ${fmt(idle.cell.clients)} held for 3 s in every run: ${r.allRunsOk ? 'yes' : 'no'}`]
    })
    list.push({
      id: '3b',
      target: '10,000 connections accepted at least as fast as the ceiling',
      met: r.allRunsOk && r.acceptVsHijack <= 1 && (nodeRow === undefined || r.acceptVsNode <= 1),
      figures: [
        `${fmt(rowOf(idle, 'hub').acceptMs)} ms vs ${fmt(rowOf(idle, 'fastify-hijack').acceptMs)} ms (Fastify route, ${fmt(r.acceptVsHijack, 2)}×)` +
          (nodeRow ? ` and ${fmt(nodeRow.acceptMs)} ms (node:http, ${fmt(r.acceptVsNode, 2)}×)` : ''),
        `server CPU per accepted connection ${fmt(rowOf(idle, 'hub').acceptCpuUs)} µs vs ${fmt(rowOf(idle, 'fastify-hijack').acceptCpuUs)} µs (${fmt(r.acceptCpuVsHijack, 2)}×)`,
        `per repetition: ${spread(r.acceptVsHijackEach)} the Fastify route's time` + (nodeRow ? `, ${spread(r.acceptVsNodeEach)} node:http's` : '')
      ]
    })
  }
  return list
}

/** How per-repetition ratios spread: the range, and in how many the plugin was not slower. */
function spread (ratios) {
  const notSlower = ratios.filter((r) => r <= 1).length
  return `${fmt(Math.min(...ratios), 2)}–${fmt(Math.max(...ratios), 2)}× (not slower in ${notSlower} of ${ratios.length})`
}

/** The plugin's own rows stand out in bold. */
function contenderName (contender) {
  return contender.kind === 'ours' ? `**${contender.label}**` : contender.label
}

/** One row per contender: `columns` are [heading, value of (row, ratio)], then runs ok. */
function contenderTable (entry, columns) {
  const lines = [
    `| contender | ${columns.map(([heading]) => heading).join(' | ')} | runs ok |`,
    `| --- | ${columns.map(() => '---:').join(' | ')} | ---: |`
  ]
  for (const row of entry.rows) {
    const ratio = entry.ratios.each[row.contender.id]
    lines.push(`| ${contenderName(row.contender)} | ${columns.map(([, value]) => value(row, ratio)).join(' | ')} | ${row.ok}/${row.runs} |`)
  }
  return lines
}

const BURST_COLUMNS = [
  ['deliveries/s', (row) => fmt(row.deliveriesPerSec)],
  ['× node:http (per repetition, median)', (row, ratio) => fmt(ratio, 2)],
  ['p50 ms', (row) => fmt(row.p50Ms, 1)],
  ['p99 ms', (row) => fmt(row.p99Ms, 1)],
  ['server CPU ns/delivery', (row) => fmt(row.cpuNs)],
  ['load-generator CPU', (row) => `${fmt(row.loadCpu * 100)} %`]
]

const IDLE_COLUMNS = [
  ['time to accept 10k (ms)', (row) => fmt(row.acceptMs)],
  ['accepts/s', (row) => fmt(row.acceptPerSec)],
  ['server CPU per accept (µs)', (row) => fmt(row.acceptCpuUs)],
  ['RSS per connection (KiB)', (row) => fmt(row.rssPerConnKiB, 1)],
  ['heap per connection (KiB)', (row) => fmt(row.heapPerConnKiB, 1)],
  ['RSS × Fastify route', (row, ratio) => fmt(ratio, 2)]
]

/** The target of issue 14: multi-topic fan-out within 2× single-topic, at every N. */
const USERS_TARGET = 2

/** Where and when a merged cell ran, when that is not the run described at the top. */
function provenance (run, ids, alt) {
  const m = run.machine
  return `${ids.join(', ')}: measured at commit \`${run.commit.head}\`${run.commit.libDirty ? ' (with uncommitted changes in `lib/`)' : ''} on ` +
    `${run.date.slice(0, 16).replace('T', ' ')} UTC, ${run.reps} repetitions${alt ? ', interleaved with the alt build' : ''}; load average ` +
    `${m.loadBefore.map((l) => l.toFixed(2)).join(' / ')} at start, ${m.loadAfter.map((l) => l.toFixed(2)).join(' / ')} at end` +
    `${m.pinned ? '' : ' (NOT pinned: taskset was missing)'}; the run took ${fmt(run.durationSec)} s and was merged into ` +
    'the results above (`--merge`): the other cells were not rerun.'
}

/** The users cells (issue 14): one table, a row per N and build. */
function usersSection (results, entries) {
  const commitOf = (entry, contender) => contender.id === 'hub-alt'
    ? contender.commit?.head ?? contender.root
    : (entry.cell.run?.commit ?? results.commit).head
  const { size, rounds } = entries[0].cell
  const lines = [
    '## N users, one event each: streams on two topics vs one (issue 14)',
    '',
    'Each of N users has one stream, on `[\'user:<i>\']` (single) or on `[\'broadcast\', \'user:<i>\']` (multi); a job',
    `then publishes one ${fmt(size)} B event to every user's topic in one loop (\`publish()\` not awaited; every event lands`,
    'in one batch). **Blocked**: on the server, from before the loop to a `setImmediate` queued after it (the',
    'loop and the fan-out of the batch); **CPU**: the server\'s user + system CPU time over the same span, the',
    'steadier figure on a shared machine (wall time also counts the time other processes held the core).',
    `**Delivery**: from the first publish to the last client's receipt of its event. Per run, the median of ${rounds}`,
    'rounds after a warm-up round; here the median over repetitions. × = multi / single, taken within each',
    'repetition (both ran back to back, each with a fresh server), then the median.',
    ''
  ]
  lines.push(...runProvenance(entries))
  lines.push(
    '| users | build | blocked ms, single | blocked ms, multi | × blocked (per repetition) | CPU ms, single | CPU ms, multi | × CPU | delivery ms, single | delivery ms, multi | × delivery | runs ok |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'
  )
  for (const entry of entries) {
    for (const row of entry.rows) {
      const build = `${contenderName(row.contender)} \`${commitOf(entry, row.contender)}\``
      lines.push(`| ${fmt(entry.cell.clients)} | ${build} | ${fmt(row.single.blockedMs, 1)} | ${fmt(row.multi.blockedMs, 1)} | ` +
        `**${fmt(row.blockedRatio, 2)}** (${row.blockedRatioEach.map((r) => fmt(r, 2)).join(', ')}) | ` +
        `${fmt(row.single.cpuMs, 1)} | ${fmt(row.multi.cpuMs, 1)} | ${fmt(row.cpuRatio, 2)} | ` +
        `${fmt(row.single.deliveryMs, 1)} | ${fmt(row.multi.deliveryMs, 1)} | ${fmt(row.deliveryRatio, 2)} | ${row.ok}/${row.runs} |`)
    }
  }
  lines.push('')
  const hub = entries.map((entry) => ({ entry, row: entry.rows.find((row) => row.contender.id === 'hub') })).filter(({ row }) => row !== undefined)
  if (hub.length > 0) {
    const met = hub.every(({ row }) => row.ok === row.runs && row.blockedRatio <= USERS_TARGET)
    lines.push(`Target (issue 14), multi-topic fan-out within ${USERS_TARGET}× the single-topic case at every N (blocked time): ` +
      `**${met ? 'met' : 'not met'}** — ${hub.map(({ entry, row }) => `${fmt(entry.cell.clients)}: ${fmt(row.blockedRatio, 2)}×`).join(', ')}.`)
  }
  const alt = entries.filter((entry) => entry.rows.some((row) => row.contender.id === 'hub-alt' && row.ok > 0))
  if (alt.length > 0) {
    lines.push('The alt build against this one, multi-topic streams (median of per-repetition ratios): ' +
      alt.map((entry) => {
        const r = entry.ratios['hub-alt']
        return `${fmt(entry.cell.clients)}: blocked ${fmt(r.blockedVsHub, 1)}×, CPU ${fmt(r.cpuVsHub, 1)}×, delivery ${fmt(r.deliveryVsHub, 1)}×`
      }).join('; ') + '.')
  }
  const notes = [...new Set(entries.flatMap((entry) => entry.cell.run?.notes ?? []))]
  for (const note of notes) lines.push(`- ${note}`)
  lines.push('')
  return lines
}

/** Each Redis store row of `entry` with the memory row of its build, where both ran. */
function redisPairs (entry) {
  return Object.entries(MEMORY_OF)
    .map(([redis, memory]) => ({ redis: entry.rows.find((row) => row.contender.id === redis), memory: entry.rows.find((row) => row.contender.id === memory), ratio: entry.ratios[redis] }))
    .filter(({ redis, memory }) => redis !== undefined && memory !== undefined && redis.ok > 0 && memory.ok > 0)
}

function buildOf (contender) {
  return contender.id.endsWith('-alt') ? `alt build${contender.commit ? ` \`${contender.commit.head}\`` : ''}` : 'this build'
}

/** The concurrent-publisher cells (issue 13): the Redis store against the memory store, per build. */
function windowSection (entries) {
  const lines = [
    '## A concurrent publisher: the Redis store against the memory store (issue 13)',
    '',
    'The burst cells again, with a publisher that keeps ' + `${fmt(entries[0].cell.window)} publishes in flight (a new one as soon as one`,
    'resolves, all awaited at the end; `publishWindowed()` in `bench/common/server-kit.mjs`) instead of awaiting each. One',
    'server process per run, as in the cells above; the Redis store against a private `redis-server` on the server\'s',
    'core. × memory: Redis deliveries/s over the memory store\'s of the same build, within each repetition, then the median.',
    ''
  ]
  lines.push(...runProvenance(entries))
  lines.push(
    '| cell | build | memory deliveries/s | Redis deliveries/s | × memory (per repetition) | memory p99 ms | Redis p99 ms | runs ok (memory, Redis) |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |'
  )
  for (const entry of entries) {
    for (const { redis, memory, ratio } of redisPairs(entry)) {
      lines.push(`| ${cellTitle(entry.cell)} | ${buildOf(redis.contender)} | ${fmt(memory.deliveriesPerSec)} | ${fmt(redis.deliveriesPerSec)} | ` +
        `**${fmt(ratio.vsMemory, 2)}** (${ratio.vsMemoryEach.map((r) => fmt(r, 2)).join(', ')}) | ${fmt(memory.p99Ms, 1)} | ${fmt(redis.p99Ms, 1)} | ` +
        `${memory.ok}/${memory.runs}, ${redis.ok}/${redis.runs} |`)
    }
  }
  lines.push('')
  const ours = entries.map((entry) => ({ entry, pair: redisPairs(entry).find(({ redis }) => redis.contender.id === 'hub-redis') })).filter(({ pair }) => pair !== undefined)
  if (ours.length > 0) {
    const met = ours.every(({ pair }) => pair.ratio.allRunsOk && pair.ratio.vsMemory >= REDIS_VS_MEMORY)
    lines.push(`Target (issue 13), the Redis store ≥ ${REDIS_VS_MEMORY}× the memory store's deliveries/s with the same concurrent publisher: ` +
      `**${met ? 'met' : 'not met'}** — ${ours.map(({ entry, pair }) => `${entry.cell.id}: ${fmt(pair.ratio.vsMemory, 2)}×`).join(', ')}.`, '')
  }
  return lines
}

/** Console lines: Redis over memory in every burst cell where both stores ran, the target in the concurrent ones. */
function redisVsMemoryLines (cells) {
  const lines = []
  for (const entry of cells.filter((e) => e.cell.mode === 'burst')) {
    for (const { redis, ratio } of redisPairs(entry)) {
      const target = isWindowCell(entry.cell) ? `; target ≥ ${REDIS_VS_MEMORY}: ${ratio.allRunsOk && ratio.vsMemory >= REDIS_VS_MEMORY ? 'MET' : 'NOT MET'}` : ''
      lines.push(`Redis vs memory, ${entry.cell.id} (${isWindowCell(entry.cell) ? `${entry.cell.window} publishes in flight` : 'each publish awaited'}), ${buildOf(redis.contender)}: ` +
        `${fmt(ratio.vsMemory, 2)}× deliveries/s (per repetition ${ratio.vsMemoryEach.map((r) => fmt(r, 2)).join(', ')}), p99 ${fmt(ratio.p99VsMemory, 2)}×${target}`)
    }
  }
  return lines
}

/** The answers targets (issue 11, item 7). */
const ANSWERS_VS_NODE = 0.9
const ANSWERS_VS_LIBRARY = 2

const ANSWERS_COLUMNS = [
  ['tokens/s', (row) => fmt(row.tokensPerSec)],
  ['× node:http', (row, entry) => fmt(entry.ratios.each[row.contender.id], 2)],
  ['× best library', (row, entry) => row.contender.kind === 'library' ? '' : fmt(entry.ratios.vsBestLibrary[row.contender.id], 2)],
  ['server CPU µs/token', (row) => fmt(row.cpuUs, 2)],
  ['p50 ms', (row) => fmt(row.p50Ms, 2)],
  ['p99 ms', (row) => fmt(row.p99Ms, 1)],
  ['server RSS peak MiB', (row) => fmt(row.rssPeakMiB)],
  ['load-generator CPU', (row) => `${fmt(row.loadCpu * 100)} %`]
]

/** Whether the plugin met the answers targets in one cell, with the figures. */
export function answersVerdict (entry, id = 'hub') {
  const row = entry.rows.find((r) => r.contender.id === id)
  if (row === undefined || row.ok === 0) return undefined
  const vsNode = entry.ratios.each[id]
  const vsLibrary = entry.ratios.vsBestLibrary[id]
  const allOk = row.ok === row.runs
  return {
    vsNode,
    vsLibrary,
    nodeMet: allOk && vsNode >= ANSWERS_VS_NODE,
    libraryMet: allOk && vsLibrary >= ANSWERS_VS_LIBRARY,
    vsNodeEach: entry.ratios.vsNodeEach[id],
    vsLibraryEach: entry.ratios.vsBestLibraryEach[id]
  }
}

/** The answers cells (issue 11): a table per cell, the targets, and the stalled client. */
function answersSection (results, entries) {
  const lines = [
    '## Streaming answers (issue 11)',
    '',
    'C clients each `GET /answer?tokens=N` at once (connections opened first, then every request in one',
    'loop); the server streams N tokens of ~20 B from one async generator (`bench/common/tokens.mjs`, the',
    'same module for every contender; a ready source unless paced), each token stamped with',
    '`process.hrtime.bigint()` when it is pulled. **fastify-sse-hub**: `reply.sse({ topics: [] })` and',
    '`stream.sendAll(answer)`, default `highWaterMark` (64 KiB), text tokens `{ event: \'token\', text }`',
    'checked by `Type.String({ minLength: 1 })`, or JSON ones `{ event: \'tick\', data }` checked by the',
    'fan-out cells\' object schema. **node:http**, hand-written: `for await` over the answer, each token',
    'encoded by hand and `res.write()`, `\'drain\'` awaited when it returns false. **@fastify/sse**:',
    '`await reply.sse.send(answer)` on an `sse: \'only\'` route (a route serializer passes text through).',
    '**fastify-sse-v2**: `reply.sse(answer)` (JSON data stringified by the app). Every client must get',
    'tokens 0 … N − 1 in order and then the end of its response, or the run fails. A warm-up of 200',
    'answers on other connections runs first. **tokens/s**: C × N / (last token received − first',
    'request sent); **CPU/token**: the server\'s user + system CPU over the same span / (C × N);',
    '**p99**: token pulled → received on the load side, over all C × N tokens; **RSS peak**: the',
    'server process\'s peak RSS (`maxRSS`; a fresh process per run). × node:http and × best library',
    'are taken inside each repetition, then the median.',
    ''
  ]
  lines.push(...runProvenance(entries))
  for (const entry of entries.filter((e) => e.cell.mode === 'answers')) {
    lines.push(`### ${cellTitle(entry.cell)} (\`${entry.cell.id}\`)`, '')
    const header = [
      `| contender | ${ANSWERS_COLUMNS.map(([heading]) => heading).join(' | ')} | runs ok |`,
      `| --- | ${ANSWERS_COLUMNS.map(() => '---:').join(' | ')} | ---: |`
    ]
    lines.push(...header)
    for (const row of entry.rows) {
      lines.push(`| ${contenderName(row.contender)} | ${ANSWERS_COLUMNS.map(([, value]) => value(row, entry)).join(' | ')} | ${row.ok}/${row.runs} |`)
    }
    lines.push('')
    const verdict = answersVerdict(entry)
    if (entry.cell.pace > 0) {
      lines.push(`Paced: the answers cannot go faster than ${fmt(entry.cell.clients / entry.cell.pace * 1000)} tokens/s (${fmt(entry.cell.clients)} ` +
        `answers at one token per ${fmt(entry.cell.pace)} ms), so tokens/s only shows who kept the pace; the latency is the figure here. ` +
        'The throughput targets apply to the ready source.', '')
    } else if (verdict !== undefined) {
      const range = (list) => list.length === 0 ? 'n/a' : `${fmt(Math.min(...list), 2)}–${fmt(Math.max(...list), 2)}`
      lines.push(`Targets: ≥ ${ANSWERS_VS_NODE}× the hand-written server's tokens/s — **${verdict.nodeMet ? 'met' : 'not met'}** ` +
        `(${fmt(verdict.vsNode, 2)}×; per repetition ${range(verdict.vsNodeEach)}); ≥ ${ANSWERS_VS_LIBRARY}× the best library — ` +
        `**${verdict.libraryMet ? 'met' : 'not met'}** (${fmt(verdict.vsLibrary, 2)}×; per repetition ${range(verdict.vsLibraryEach)}).`, '')
    }
    const alt = entry.ratios.altVsHub
    if (entry.rows.some((row) => row.contender.id === 'hub-alt' && row.ok > 0)) {
      lines.push(`The alt build against this one (medians of per-repetition ratios): tokens/s ${fmt(alt.tokens, 2)}×, CPU per token ${fmt(alt.cpu, 2)}×, p99 ${fmt(alt.p99, 2)}×.`, '')
    }
  }
  const stall = entries.find((e) => e.cell.mode === 'stall')
  if (stall !== undefined) {
    lines.push(`### ${cellTitle(stall.cell)} (\`${stall.cell.id}\`)`, '',
      'One client sends `GET /answer?stall=1` for an answer of ' + fmt(stall.cell.tokens) + ' tokens, reads its first bytes (the head)',
      'and stops reading (`socket.pause()`). Once the source has not moved for 1 s, the server reports how',
      'many tokens it pulled and what it holds for that client: the response\'s `writableLength` (Node\'s',
      'buffer and its socket\'s; for fastify-sse-v2 also the Readable it pipes from). The rest of what was',
      'pulled sits in the kernel\'s socket buffers (loopback), not in the process. Bound: the contender\'s',
      'highWaterMark + one token message on the wire (chunk framing included); asserted for the plugin',
      '(the run fails above it) and for the hand-written server (16 KiB: Node\'s default', '`writableHighWaterMark`), reported for the libraries.', '',
      '| contender | tokens pulled | ≈ bytes pulled | held for the client (B), median | max over runs | highWaterMark + one message (B) | within | runs ok |',
      '| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |')
    for (const row of stall.rows) {
      lines.push(`| ${contenderName(row.contender)} | ${fmt(row.pulled)} | ${fmt(row.pulledBytes)} | ${fmt(row.heldBytes)} | ${fmt(row.heldMax)} | ` +
        `${fmt(row.highWaterMark)} + ${fmt(row.frameBytes)} = ${fmt(row.bound)} | ${row.ok === 0 ? 'n/a' : row.withinAll ? 'yes' : 'no'}${row.asserted ? ' (asserted)' : ''} | ${row.ok}/${row.runs} |`)
    }
    lines.push('')
  }
  return lines
}

function failureLines (cells) {
  const lines = []
  for (const entry of cells) {
    for (const row of entry.rows) {
      for (const failure of row.failures) lines.push(`- ${entry.cell.id}, ${row.contender.label}: FAILED (${failure})`)
    }
  }
  return lines
}

/** How the micro-benchmarks ran: with the fan-out run, or on their own later (`--micro=FILE`). */
function microRun (results) {
  const { commit, date, loadAfter } = results.micro
  if (commit === undefined || commit.head === results.commit.head) return results.machine.pinned ? 'pinned to one core' : 'unpinned'
  return `run on their own at commit \`${commit.head}\`${commit.libDirty ? ' (with uncommitted changes in `lib/`)' : ''} on ${date.slice(0, 16).replace('T', ' ')} UTC (load average ${loadAfter.map((l) => l.toFixed(2)).join(' / ')} at the end), after the fan-out figures above`
}

function microTable (micro) {
  const lines = ['| piece | case | ops/s | ns/op | ± % |', '| --- | --- | ---: | ---: | ---: |']
  for (const r of micro.results) lines.push(`| ${r.group} | ${r.name} | ${fmt(r.opsPerSec)} | ${fmt(r.nsPerOp, 1)} | ${fmt(r.rme, 1)} |`)
  return lines
}

/** The chart: deliveries/s and p99 per burst cell, then RSS per idle connection and time to accept. */
export function chart (results, cells) {
  const W = 960
  const burst = cells.filter(({ cell }) => cell.mode === 'burst' && !isWindowCell(cell))
  const idle = cells.find(({ cell }) => cell.mode === 'idle')
  const contenders = results.contenders.filter((c) => c.listedOnly !== true)
  const parts = []
  let y = 0
  const text = (x, ty, body, attrs = '') => parts.push(`<text x="${x.toFixed(1)}" y="${ty.toFixed(1)}" ${attrs}>${escapeXml(body)}</text>`)

  text(W / 2, 26, `fastify-sse-hub fan-out benchmark — commit ${results.commit.head}${results.commit.libDirty ? ' (+ uncommitted lib/)' : ''}, ${results.date.slice(0, 10)}`, 'text-anchor="middle" font-size="16" font-weight="bold"')
  y = 40
  // Legend
  let lx = 40
  for (const c of contenders) {
    const width = 30 + c.label.length * 6.6
    if (lx + width > W - 20) {
      lx = 40
      y += 20
    }
    parts.push(`<rect x="${lx}" y="${y + 4}" width="12" height="12" fill="${COLORS[c.id] ?? '#999'}"/>`)
    text(lx + 16, y + 15, c.label, 'font-size="12"')
    lx += width
  }
  y += 34

  const groupedBars = (title, key, label) => {
    const top = y + 24
    const height = 230
    const left = 80
    const right = W - 20
    text(left, y + 12, title, 'font-size="13" font-weight="bold"')
    const max = Math.max(...burst.flatMap((entry) => entry.rows.map((row) => row[key])).filter(Number.isFinite)) * 1.12
    const step = niceStep(max / 5)
    for (let v = 0; v <= max; v += step) {
      const gy = top + height - (v / max) * height
      parts.push(`<line x1="${left}" x2="${right}" y1="${gy.toFixed(1)}" y2="${gy.toFixed(1)}" stroke="#e3e3e3"/>`)
      text(left - 6, gy + 4, label(v), 'text-anchor="end" font-size="11" fill="#555"')
    }
    const groupWidth = (right - left) / burst.length
    const barWidth = Math.min(34, (groupWidth - 30) / contenders.length)
    burst.forEach((entry, g) => {
      const gx = left + g * groupWidth + (groupWidth - barWidth * contenders.length) / 2
      entry.rows.forEach((row, i) => {
        const x = gx + i * barWidth
        const v = row[key]
        if (!Number.isFinite(v)) {
          text(x + barWidth / 2, top + height - 4, 'failed', `text-anchor="middle" font-size="9" fill="#b00" transform="rotate(-90 ${(x + barWidth / 2).toFixed(1)} ${(top + height - 4).toFixed(1)})"`)
          return
        }
        const h = (v / max) * height
        parts.push(`<rect x="${(x + 1).toFixed(1)}" y="${(top + height - h).toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[row.contender.id] ?? '#999'}"><title>${escapeXml(`${row.contender.label}: ${fmt(row.deliveriesPerSec)} deliveries/s, p50 ${fmt(row.p50Ms, 1)} ms, p99 ${fmt(row.p99Ms, 1)} ms`)}</title></rect>`)
        text(x + barWidth / 2, top + height - h - 4, label(v), 'text-anchor="middle" font-size="10"')
      })
      text(left + g * groupWidth + groupWidth / 2, top + height + 18, cellTitle(entry.cell), 'text-anchor="middle" font-size="12"')
    })
    parts.push(`<line x1="${left}" x2="${right}" y1="${top + height}" y2="${top + height}" stroke="#333"/>`)
    y = top + height + 40
  }
  if (burst.length > 0) {
    groupedBars('Deliveries per second, burst cells (median of repetitions; higher is better)', 'deliveriesPerSec', kilo)
    groupedBars('Publish → receive latency p99, ms (median of repetitions; lower is better)', 'p99Ms', (v) => fmt(v))
  }

  if (idle !== undefined) {
    const panels = [
      { key: 'rssPerConnKiB', title: 'RSS per idle connection, KiB (lower is better)', unit: (v) => `${fmt(v, 1)} KiB` },
      { key: 'acceptMs', title: `Time to accept ${fmt(idle.cell.clients)} connections, ms (lower is better)`, unit: (v) => `${fmt(v)} ms` }
    ]
    const panelWidth = (W - 60) / 2
    const rowHeight = 20
    panels.forEach((panel, p) => {
      const px = 20 + p * (panelWidth + 20)
      text(px, y + 12, panel.title, 'font-size="13" font-weight="bold"')
      const labelWidth = 170
      const barMax = panelWidth - labelWidth - 70
      const max = Math.max(...idle.rows.map((row) => row[panel.key]).filter(Number.isFinite))
      idle.rows.forEach((row, i) => {
        const ry = y + 24 + i * rowHeight
        text(px + labelWidth - 6, ry + 13, row.contender.label, 'text-anchor="end" font-size="12"')
        const v = row[panel.key]
        if (!Number.isFinite(v)) {
          text(px + labelWidth, ry + 13, 'failed', 'font-size="11" fill="#b00"')
          return
        }
        const w = (v / max) * barMax
        parts.push(`<rect x="${px + labelWidth}" y="${ry + 2}" width="${w.toFixed(1)}" height="${rowHeight - 5}" fill="${COLORS[row.contender.id] ?? '#999'}"/>`)
        text(px + labelWidth + w + 5, ry + 13, panel.unit(v), 'font-size="11"')
      })
    })
    y += 24 + idle.rows.length * rowHeight + 16
  }

  text(20, y + 8, `Node ${results.machine.node}, ${results.machine.cores} cores (${results.machine.cpu ?? 'unknown CPU'}); server and load generator pinned to separate cores; load average ${results.machine.loadBefore.map((l) => l.toFixed(2)).join(' ')} at start.`, 'font-size="11" fill="#555"')
  y += 20
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" viewBox="0 0 ${W} ${y}" font-family="Helvetica, Arial, sans-serif">\n<rect width="100%" height="100%" fill="#fff"/>\n${parts.join('\n')}\n</svg>\n`
}

function niceStep (raw) {
  const magnitude = 10 ** Math.floor(Math.log10(raw))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * magnitude >= raw) return m * magnitude
  return 10 * magnitude
}

function markdown (results, cells, goals) {
  const m = results.machine
  const lines = [
    '# Benchmarks',
    '',
    `Measured at commit \`${results.commit.head}\`${results.commit.libDirty ? ' (with uncommitted changes in `lib/`)' : ''} on ${results.date.slice(0, 16).replace('T', ' ')} UTC;`,
    `Node ${m.node}, ${m.cores} cores (${m.cpu ?? 'unknown CPU'}), loopback only. Server pinned to one core and load`,
    `generator to the other${m.pinned ? '' : ' (NOT pinned: taskset was missing)'}. Load average at start ${m.loadBefore.map((l) => l.toFixed(2)).join(' / ')},`,
    `at end ${m.loadAfter.map((l) => l.toFixed(2)).join(' / ')} (1 / 5 / 15 min). ${results.reps} repetitions per cell, contenders interleaved;`,
    `the whole run took ${fmt(results.durationSec)} s. Contender versions: ${Object.entries(results.versions).map(([name, v]) => `${name} ${v}`).join(', ')}.`,
    '',
    '![Deliveries per second per cell, RSS per idle connection and time to accept 10,000 connections](benchmarks.svg)',
    ''
  ]
  if (goals.length > 0) {
    lines.push('## Targets (issue 5)', '', '| # | target | met | figures (medians of per-repetition ratios) |', '| --- | --- | --- | --- |')
    for (const goal of goals) lines.push(`| ${goal.id} | ${goal.target} | ${goal.met ? '**met**' : '**not met**'} | ${goal.figures.join('<br>')} |`)
    lines.push('| 4 | Micro-benchmarks for the pieces (encoder, validator, ring buffer) | ' + (results.micro ? '**met**' : 'not run') + ' | `bench/micro.mjs`, table below |', '')
  }
  for (const entry of cells) {
    if (entry.cell.mode === 'users' || entry.cell.mode === 'answers' || entry.cell.mode === 'stall' || isWindowCell(entry.cell)) continue
    lines.push(`## ${cellTitle(entry.cell)}`, '')
    lines.push(...contenderTable(entry, entry.cell.mode === 'idle' ? IDLE_COLUMNS : BURST_COLUMNS), '')
  }
  const windowed = cells.filter((entry) => isWindowCell(entry.cell))
  if (windowed.length > 0) lines.push(...windowSection(windowed))
  const users = cells.filter((entry) => entry.cell.mode === 'users')
  if (users.length > 0) lines.push(...usersSection(results, users))
  const answers = cells.filter((entry) => entry.cell.mode === 'answers' || entry.cell.mode === 'stall')
  if (answers.length > 0) lines.push(...answersSection(results, answers))
  const failures = failureLines(cells)
  if (failures.length > 0) lines.push('### Failed runs (not counted)', '', ...failures, '')
  if (results.notes.length > 0) lines.push('### Notes', '', ...results.notes.map((note) => `- ${note}`), '')
  if (results.micro) {
    lines.push('## Micro-benchmarks', '', `\`node bench/micro.mjs\`: a plain hrtime loop timing batches of ≥ 1 ms, median ns per operation, imported from \`dist/\`, ${microRun(results)}, ${results.micro.timeMs} ms of samples per case. \`encodeEvent\` alone returns a rope (string concatenation is lazy in V8); the \`Buffer.from\` line is what the hub pays per event:`, '', ...microTable(results.micro), '')
  }
  // Hand-written sections, measured by their own benches, in this order.
  for (const name of ['bounded-history', 'shutdown-spread', 'redis-at-scale', 'method', 'analysis']) {
    const note = join(BENCH, 'notes', `${name}.md`)
    if (existsSync(note)) lines.push(readFileSync(note, 'utf8').trim(), '')
  }
  return lines.join('\n')
}

/** One line per run the entries' cells come from (cells run on their own and merged), each followed by a blank line. */
function runProvenance (entries) {
  const runs = new Map()
  for (const entry of entries) {
    if (entry.cell.run === undefined) continue
    const key = entry.cell.run.date
    if (!runs.has(key)) runs.set(key, { run: entry.cell.run, ids: [], alt: entry.rows.some((row) => row.contender.id === 'hub-alt') })
    runs.get(key).ids.push(entry.cell.id)
  }
  return [...runs.values()].flatMap(({ run, ids, alt }) => [provenance(run, ids, alt), ''])
}

function summary (cells, goals) {
  const lines = []
  for (const entry of cells) {
    lines.push(cellTitle(entry.cell))
    for (const row of entry.rows) {
      if (entry.cell.mode === 'answers') {
        lines.push(`  ${row.contender.label.padEnd(26)} ${fmt(row.tokensPerSec).padStart(10)} tokens/s (${fmt(entry.ratios.each[row.contender.id], 2)}× node:http)  ` +
          `${fmt(row.cpuUs, 2).padStart(6)} µs CPU/token  p50 ${fmt(row.p50Ms, 1).padStart(6)} ms  p99 ${fmt(row.p99Ms, 1).padStart(6)} ms  ` +
          `RSS peak ${fmt(row.rssPeakMiB)} MiB  load-gen CPU ${fmt(row.loadCpu * 100)} %  (${row.ok}/${row.runs} ok)`)
        continue
      }
      if (entry.cell.mode === 'stall') {
        lines.push(`  ${row.contender.label.padEnd(26)} ${fmt(row.pulled).padStart(9)} tokens pulled, ${fmt(row.heldBytes)} B held (max ${fmt(row.heldMax)}), ` +
          `bound ${fmt(row.bound)} B: ${row.withinAll ? 'within' : 'OVER'}  (${row.ok}/${row.runs} ok)`)
        continue
      }
      if (entry.cell.mode === 'users') {
        lines.push(`  ${row.contender.label.padEnd(26)} blocked ${fmt(row.single.blockedMs, 1).padStart(7)} → ${fmt(row.multi.blockedMs, 1).padStart(7)} ms (${fmt(row.blockedRatio, 2)}×)  ` +
          `CPU ${fmt(row.single.cpuMs, 1).padStart(7)} → ${fmt(row.multi.cpuMs, 1).padStart(7)} ms (${fmt(row.cpuRatio, 2)}×)  ` +
          `delivery ${fmt(row.single.deliveryMs, 1).padStart(7)} → ${fmt(row.multi.deliveryMs, 1).padStart(7)} ms (${fmt(row.deliveryRatio, 2)}×), single → multi  (${row.ok}/${row.runs} ok)`)
        continue
      }
      const figures = entry.cell.mode === 'idle'
        ? `accept ${fmt(row.acceptMs).padStart(6)} ms  ${fmt(row.acceptCpuUs).padStart(4)} µs CPU/accept  RSS ${fmt(row.rssPerConnKiB, 1).padStart(5)} KiB/conn  heap ${fmt(row.heapPerConnKiB, 1)} KiB/conn`
        : `${fmt(row.deliveriesPerSec).padStart(10)} deliveries/s  p50 ${fmt(row.p50Ms, 1).padStart(6)} ms  p99 ${fmt(row.p99Ms, 1).padStart(6)} ms  ${fmt(row.cpuNs).padStart(6)} ns CPU/delivery  load-gen CPU ${fmt(row.loadCpu * 100)} %`
      lines.push(`  ${row.contender.label.padEnd(26)} ${figures}  (${row.ok}/${row.runs} ok)`)
    }
  }
  for (const entry of cells) {
    const alt = entry.ratios['hub-alt']
    if (alt === undefined || entry.rows.every((row) => row.contender.id !== 'hub-alt')) continue
    if (entry.cell.mode === 'users') {
      lines.push(`alt build vs hub, ${entry.cell.id}: multi-topic blocked ${fmt(alt.blockedVsHub, 2)}×, CPU ${fmt(alt.cpuVsHub, 2)}×, delivery ${fmt(alt.deliveryVsHub, 2)}× (medians of per-repetition ratios)`)
      continue
    }
    lines.push(entry.cell.mode === 'idle'
      ? `alt build vs hub, ${entry.cell.id}: accept time ${fmt(alt.acceptVsHub, 3)}×, server CPU per accept ${fmt(alt.acceptCpuVsHub, 3)}× (medians of per-repetition ratios)`
      : `alt build vs hub, ${entry.cell.id}: deliveries/s ${fmt(alt.vsHub, 3)}×, server CPU per delivery ${fmt(alt.cpuVsHub, 3)}× (medians of per-repetition ratios)`)
  }
  for (const entry of cells.filter((e) => e.cell.mode === 'answers' && !(e.cell.pace > 0))) {
    for (const id of ['hub', 'hub-alt']) {
      const v = answersVerdict(entry, id)
      if (v === undefined) continue
      lines.push(`answers target, ${entry.cell.id}, ${id}: ${fmt(v.vsNode, 2)}× node:http tokens/s (≥ ${ANSWERS_VS_NODE}: ${v.nodeMet ? 'MET' : 'NOT MET'}), ` +
        `${fmt(v.vsLibrary, 2)}× the best library (≥ ${ANSWERS_VS_LIBRARY}: ${v.libraryMet ? 'MET' : 'NOT MET'})`)
    }
    if (entry.rows.some((row) => row.contender.id === 'hub-alt' && row.ok > 0)) {
      const alt = entry.ratios.altVsHub
      lines.push(`alt build vs hub, ${entry.cell.id}: tokens/s ${fmt(alt.tokens, 3)}×, server CPU per token ${fmt(alt.cpu, 3)}×, p99 ${fmt(alt.p99, 3)}× (medians of per-repetition ratios)`)
    }
  }
  lines.push(...redisVsMemoryLines(cells))
  for (const line of failureLines(cells)) lines.push(line)
  for (const goal of goals) lines.push(`target ${goal.id}: ${goal.met ? 'MET' : 'NOT MET'} — ${goal.figures.join('; ')}`)
  return lines.join('\n')
}

export function writeReport (results, { docs, root }) {
  const cells = aggregate(results)
  const goals = targets(cells)
  const wrote = []
  if (docs) {
    mkdirSync(join(root, 'docs'), { recursive: true })
    writeFileSync(join(root, 'docs', 'benchmarks.md'), markdown(results, cells, goals))
    writeFileSync(join(root, 'docs', 'benchmarks.svg'), chart(results, cells))
    wrote.push('docs/benchmarks.md', 'docs/benchmarks.svg')
  }
  return { summary: summary(cells, goals), wrote }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // node bench/report.mjs [results.json] [--docs] [--micro=FILE]: the summary again; --docs rewrites
  // docs/benchmarks.*; --micro puts a saved `node bench/micro.mjs --json` line in the results file.
  const file = process.argv.slice(2).find((arg) => !arg.startsWith('--')) ?? join(BENCH, 'results', 'latest.json')
  const results = JSON.parse(readFileSync(file, 'utf8'))
  const micro = process.argv.find((arg) => arg.startsWith('--micro='))
  if (micro !== undefined) {
    results.micro = JSON.parse(readFileSync(micro.slice(8), 'utf8').trim().split('\n').pop())
    writeFileSync(file, JSON.stringify(results, null, 2) + '\n')
  }
  const { summary: text, wrote } = writeReport(results, { docs: process.argv.includes('--docs'), root: dirname(BENCH) })
  console.log(text)
  if (wrote.length > 0) console.log(wrote.join(', '))
}
