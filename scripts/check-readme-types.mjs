#!/usr/bin/env node
// The README's TypeScript, compiled as a user's project would compile it: every ```ts block of
// README.md goes into a fresh consumer project (ES module, `module: nodenext`, strict) that
// installs this package from its `npm pack` tarball, and tsc (noEmit) checks it under each
// TypeScript version users install (default: 5.9 and 7), each from the npm registry under an
// alias, so the project's own TypeScript (5.9, which its tools load) is untouched. A program of
// the package's entry points, from ESM and from CommonJS, is compiled the same way with
// `skipLibCheck: false`, so the published declaration files themselves are checked too.
//
// Each block is its own program (a `declare module` in one block must not type another). A block
// that is a fragment says so in an HTML comment right above its fence, which GitHub does not show:
//
//   <!-- types: after quick-start -->          the code of the block under "## Quick start" first
//   <!-- types: after typed-events, with:
//   declare const userId: string                 code put before the block (after the other's)
//   and after it:
//   const check: number = count                  code put after the block
//   -->
//   <!-- types: skip: why -->                    not compiled (say why)
//
// `after` names a section by its heading's anchor (as GitHub makes it); that section must hold
// one ```ts block that is not skipped. Errors are reported at README lines.
//
// Usage: node scripts/check-readme-types.mjs [--typescript ~5.9,^7] [--keep]
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const README = 'README.md'
/** What a consumer installs besides the package, at the versions this project tests with. */
const PEERS = ['fastify', '@sinclair/typebox', 'ioredis', '@types/node']

const args = process.argv.slice(2)
const keep = args.includes('--keep')
const tsIndex = args.indexOf('--typescript')
const typescripts = (tsIndex >= 0 ? args[tsIndex + 1] : '~5.9,^7').split(',').map((range) => ({
  range,
  alias: `typescript-${range.replace(/[^0-9.]/g, '')}`
}))

let blocks, programs
try {
  blocks = readBlocks(readFileSync(join(root, README), 'utf8'))
  programs = [...blocks.filter((b) => !b.skip).map(program), entryPoints()]
} catch (error) {
  console.error(`check-readme-types: ${error.message}`)
  process.exit(1)
}
for (const b of blocks.filter((b) => b.skip)) console.log(`skipped: ${README}:${b.line} (${b.slug}): ${b.skip}`)

const started = Date.now()
const dir = mkdtempSync(join(tmpdir(), 'readme-types-'))
let failed = false
try {
  console.log(`consumer project: ${dir}`)
  const tarball = pack(dir)
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'readme-types-consumer', private: true, type: 'module' }, null, 2) + '\n')
  const specs = [
    tarball,
    ...PEERS.map((name) => `${name}@${installedVersion(name)}`),
    ...typescripts.map(({ range, alias }) => `${alias}@npm:typescript@${range}`)
  ]
  run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...specs], dir)
  for (const p of programs) {
    mkdirSync(join(dir, p.name), { recursive: true })
    for (const file of p.files) writeFileSync(join(dir, p.name, file.name), file.lines.map((l) => l.text).join('\n') + '\n')
    writeFileSync(join(dir, p.name, 'tsconfig.json'), JSON.stringify({
      // composite: a project of the build below, which emits nothing either
      compilerOptions: { module: 'nodenext', target: 'es2022', strict: true, noEmit: true, composite: true, skipLibCheck: p.skipLibCheck, types: ['node'] },
      files: p.files.map((f) => f.name)
    }, null, 2) + '\n')
  }
  // One build of all programs per version: each stays its own program, but the declaration
  // files they share are read once (a third of the time of one tsc per program).
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ files: [], references: programs.map((p) => ({ path: p.name })) }, null, 2) + '\n')
  for (const { alias } of typescripts) {
    const tsc = join(dir, 'node_modules', alias, 'bin', 'tsc')
    const version = run(process.execPath, [tsc, '--version'], dir).trim().replace(/^Version /, '')
    const t0 = Date.now()
    const { code, output } = await build(tsc, dir)
    const errors = byProgram(output)
    const bad = programs.filter((p) => errors.has(p))
    for (const p of bad) console.log(`\n${p.title}: tsc ${version} failed\n${located(errors.get(p), p)}`)
    if (errors.has(undefined)) console.log(errors.get(undefined).join('\n'))
    console.log(`typescript ${version}: ${programs.length - bad.length} of ${programs.length} programs compile (${((Date.now() - t0) / 1000).toFixed(1)} s)`)
    if (code !== 0 || bad.length > 0) failed = true
  }
} catch (error) {
  console.error(`check-readme-types: ${error.message.split('\n')[0]}`) // the command's own output came first
  failed = true
} finally {
  if (keep) console.log(`kept ${dir}`)
  else rmSync(dir, { recursive: true, force: true })
}
console.log(`${failed ? 'FAILED' : 'ok'}: ${blocks.length} ts blocks of ${README} and the entry points, in ${((Date.now() - started) / 1000).toFixed(1)} s`)
process.exit(failed ? 1 : 0)

/** The ```ts blocks, each with its section's anchor and the marker above it, if any. */
function readBlocks (text) {
  const lines = text.split('\n')
  const found = []
  let slug = ''
  for (let i = 0; i < lines.length; i++) {
    const heading = /^#{1,6}\s+(.*)$/.exec(lines[i])
    if (heading) slug = anchor(heading[1])
    const fence = /^(```+|~~~+)\s*(\S*)/.exec(lines[i])
    if (!fence) continue
    const end = lines.findIndex((l, j) => j > i && l.startsWith(fence[1]))
    if (end < 0) throw new Error(`${README}:${i + 1}: a fence that never closes`)
    if (fence[2] === 'ts' || fence[2] === 'typescript') {
      found.push({
        slug,
        line: i + 2,
        code: lines.slice(i + 1, end).map((t, k) => ({ text: t, from: `${README}:${i + 2 + k}` })),
        ...marker(lines, i)
      })
    }
    i = end
  }
  const bySlug = groupBy(found.filter((b) => !b.skip), (b) => b.slug) // a skipped block is no base
  for (const b of found) {
    if (b.after === undefined) continue
    const targets = bySlug.get(b.after) ?? []
    if (targets.length !== 1) throw new Error(`${README}:${b.line}: "after ${b.after}" names ${targets.length} ts blocks; it must name one (sections: ${[...bySlug.keys()].join(', ')})`)
    b.base = targets[0]
  }
  if (found.length === 0) throw new Error(`no ts block in ${README}`)
  return found
}

/** The `<!-- types: ... -->` comment that ends on the line above the fence at `fenceIndex`. */
function marker (lines, fenceIndex) {
  const none = { before: [], epilogue: [] }
  if (!/-->\s*$/.test(lines[fenceIndex - 1] ?? '')) return none
  let start = fenceIndex - 1
  while (start >= 0 && !lines[start].includes('<!--')) start--
  const head = /^<!--\s*types:\s*(.*?)\s*(-->)?\s*$/.exec(lines[start] ?? '')
  if (!head) return none // some other comment
  const where = `${README}:${start + 1}`
  const skip = /^skip:\s*(.+)$/.exec(head[1])
  if (skip) return { ...none, skip: skip[1] }
  const parts = /^(?:after\s+([a-z0-9_-]+))?\s*,?\s*(with:)?$/.exec(head[1])
  if (!parts || (parts[1] === undefined && parts[2] === undefined)) {
    throw new Error(`${where}: a types marker is "after <anchor>", "with:", "after <anchor>, with:" or "skip: <why>"; got "${head[1]}"`)
  }
  const oneLine = head[2] !== undefined
  if (parts[2] !== undefined && (oneLine || lines[fenceIndex - 1].trim() !== '-->')) {
    throw new Error(`${where}: "with:" takes the code on the lines below it, then "-->" alone on the line above the fence`)
  }
  if (parts[2] === undefined && !oneLine) throw new Error(`${where}: code in a types marker needs "with:"`)
  const before = []
  const epilogue = []
  let into = before
  const body = oneLine ? [] : lines.slice(start + 1, fenceIndex - 1)
  body.forEach((text, k) => {
    if (text.trim() === 'and after it:') into = epilogue
    else into.push({ text, from: `${README}:${start + 2 + k}`, note: ' (in its types marker)' })
  })
  return { after: parts[1], before, epilogue }
}

/** A block with what it builds on: the base blocks' code, its `with:` code, itself, its epilogue. */
function program (block) {
  const chain = []
  for (let b = block; b !== undefined; b = b.base) {
    if (chain.includes(b)) throw new Error(`${README}:${block.line}: "after" goes round in a circle`)
    chain.unshift(b)
  }
  const lines = chain.flatMap((b) => [...b.before, ...b.code, ...(b === block ? b.epilogue : [])])
  const name = `readme-${block.line}-${block.slug}`.slice(0, 80)
  return { name, title: `${README}:${block.line} (#${block.slug})`, skipLibCheck: true, files: [{ name: 'index.ts', lines }] }
}

/** The package's three entry points as users import them, from ESM and from CommonJS. */
function entryPoints () {
  const at = (text) => text.split('\n').map((t) => ({ text: t })) // errors keep their place in the generated files
  return {
    name: 'entry-points',
    title: 'the entry points',
    skipLibCheck: false, // every declaration file they load is checked, the package's included
    files: [
      {
        name: 'esm.mts',
        lines: at(`import Fastify from 'fastify'
import plugin, { fastifySse, FST_SSE_INVALID_DATA, planReplay, type SseStore, type SseStream } from 'fastify-sse-hub'
import { redisStore } from 'fastify-sse-hub/redis'
import { SseClient, type SseClientOptions } from 'fastify-sse-hub/client'

const app = Fastify()
const same: typeof fastifySse = plugin
await app.register(same, { heartbeat: 0, store: redisStore({ url: 'redis://127.0.0.1:6379' }) })
app.get('/events', (_request, reply): SseStream => reply.sse())
export const code: string = new FST_SSE_INVALID_DATA('user-count', '/count: Expected integer').code
export const plan: typeof planReplay = planReplay
export type Store = SseStore
const options: SseClientOptions = { backoff: { initialDelay: 10 } }
new SseClient<{ tick: { at: number } }>('/events', options).on('tick', ({ at }) => at.toFixed())`)
      },
      {
        name: 'cjs.cts',
        lines: at(`import Fastify from 'fastify'
import fastifySse, { fastifySse as named, type SseStream } from 'fastify-sse-hub'
import { redisStore } from 'fastify-sse-hub/redis'

const app = Fastify()
const same: typeof named = fastifySse
void app.register(same, { store: redisStore({ url: 'redis://127.0.0.1:6379' }) })
app.get('/events', (_request, reply) => { const stream: SseStream = reply.sse(); stream.send({ event: 'tick', data: 1 }) })`)
      }
    ]
  }
}

/** `tsc -b` of every program, from a clean state (no build info left by another version). */
async function build (tsc, dir) {
  for (const p of programs) rmSync(join(dir, p.name, 'tsconfig.tsbuildinfo'), { force: true })
  return spawnCollect(process.execPath, [tsc, '-b', 'tsconfig.json', '--pretty', 'false'], dir)
}

/** tsc's output lines by the program they are about (an error's indented lines go with it). */
function byProgram (output) {
  const errors = new Map()
  let owner
  for (const line of output.split('\n')) {
    if (line.trim() === '') continue
    if (!line.startsWith(' ')) owner = programs.find((p) => line.startsWith(`${p.name}/`))
    errors.set(owner, [...(errors.get(owner) ?? []), line])
  }
  return errors
}

/** Program `p`'s errors, located at the README lines they come from. */
function located (lines, p) {
  return lines.join('\n').replace(/^(\S+?)\((\d+),(\d+)\)/gm, (whole, file, line, column) => {
    const origin = p.files.find((f) => file === `${p.name}/${f.name}`)?.lines[Number(line) - 1]
    return origin?.from === undefined ? whole : `${origin.from}:${column}${origin.note ?? ''} [${file}(${line},${column})]`
  })
}

/** The tarball `npm pack` makes of the freshly built package, in `dir`. */
function pack (dir) {
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] })
  const [{ filename }] = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], root))
  return join(dir, filename)
}

function installedVersion (name) {
  return JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version
}

function run (command, commandArgs, cwd) {
  return execFileSync(command, commandArgs, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
}

function spawnCollect (command, commandArgs, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, commandArgs, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk) => { output += chunk })
    child.stderr.on('data', (chunk) => { output += chunk })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, output }))
  })
}

/** GitHub's anchor for a heading. */
function anchor (heading) {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-')
}

function groupBy (items, key) {
  const map = new Map()
  for (const item of items) map.set(key(item), [...(map.get(key(item)) ?? []), item])
  return map
}
