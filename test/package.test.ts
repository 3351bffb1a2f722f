// The built package as users load it: by name, from ESM and from CommonJS.
import { test } from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { join } from 'node:path'
import { readFile } from 'node:fs/promises'
import { childEnv } from './helpers/child-env'

const run = promisify(execFile)
const root = join(__dirname, '..')

async function node (args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, args, { cwd: root, env: childEnv(), timeout: 20_000 })
  return stdout.trim()
}

const USE = `
  const app = Fastify()
  await app.register(plugin, { heartbeat: 0 })
  app.get('/events', (request, reply) => reply.sse())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const res = await fetch('http://127.0.0.1:' + app.server.address().port + '/events')
  const reader = res.body.getReader()
  const first = new TextDecoder().decode((await reader.read()).value)
  await reader.cancel()
  await app.close()
  console.log(JSON.stringify({ type: res.headers.get('content-type'), first: first.slice(0, 4) }))
`

test('ESM: default and named imports are the plugin (the CommonJS instance), and it serves a stream', async (t) => {
  const out = await node(['--input-type=module', '-e', `
    import Fastify from 'fastify'
    import { createRequire } from 'node:module'
    import plugin, { fastifySse, FST_SSE_INVALID_DATA, planReplay } from 'fastify-sse-hub'
    if (plugin !== fastifySse || typeof FST_SSE_INVALID_DATA !== 'function' || typeof planReplay !== 'function') throw new Error('bad exports')
    // One instance for both module systems: the ES module entry re-exports the CommonJS one.
    if (createRequire(import.meta.url)('fastify-sse-hub') !== plugin) throw new Error('two copies')
    ${USE}
  `])
  t.same(JSON.parse(out), { type: 'text/event-stream; charset=utf-8', first: 'id: ' })
})

test('CommonJS: require() gives the plugin itself, with .default and .fastifySse', async (t) => {
  const out = await node(['-e', `
    const Fastify = require('fastify')
    const plugin = require('fastify-sse-hub')
    if (plugin.default !== plugin || plugin.fastifySse !== plugin) throw new Error('bad exports')
    ;(async () => { ${USE} })()
  `])
  t.same(JSON.parse(out), { type: 'text/event-stream; charset=utf-8', first: 'id: ' })
})

test('fastify-sse-hub/redis loads by name from ESM and CommonJS, and only it loads ioredis', async (t) => {
  const esm = await node(['--input-type=module', '-e', `
    import { redisStore } from 'fastify-sse-hub/redis'
    console.log(typeof redisStore)
  `])
  t.equal(esm, 'function')
  const cjs = await node(['-e', `
    const before = Object.keys(require.cache).some((f) => f.includes('/ioredis/'))
    require('fastify-sse-hub')
    const afterCore = Object.keys(require.cache).some((f) => f.includes('/ioredis/'))
    const { redisStore } = require('fastify-sse-hub/redis')
    const afterRedis = Object.keys(require.cache).some((f) => f.includes('/ioredis/'))
    console.log(JSON.stringify([typeof redisStore, before, afterCore, afterRedis]))
  `])
  t.same(JSON.parse(cjs), ['function', false, false, true])
  const withoutIoredis = await node(['-e', `
    const Module = require('node:module')
    const resolve = Module._resolveFilename
    Module._resolveFilename = function (request, ...rest) {
      if (request === 'ioredis') throw Object.assign(new Error("Cannot find module 'ioredis'"), { code: 'MODULE_NOT_FOUND' })
      return resolve.call(this, request, ...rest)
    }
    require('fastify-sse-hub')
    try { require('fastify-sse-hub/redis') } catch (err) { console.log(JSON.stringify([err.code, err.message])) }
  `])
  t.same(JSON.parse(withoutIoredis), ['MODULE_NOT_FOUND', 'fastify-sse-hub/redis needs ioredis, an optional peer dependency: npm install ioredis'], 'without ioredis: the core loads, the store says what to install')
})

test('every link in the README works on npm: absolute, to a file the package ships, or in-page', async (t) => {
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, env: childEnv(), timeout: 60_000 })
  const shipped = new Set((JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0].files.map((file) => file.path))
  const readme = await readFile(join(root, 'README.md'), 'utf8')
  const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1])
  t.ok(links.length > 10, 'the README has links')
  const packageFile = /^https:\/\/unpkg\.com\/fastify-sse-hub\/([^#]+)/
  for (const link of links) {
    t.match(link, /^(https?:\/\/|#)/, `${link} is absolute or in-page`)
    const file = packageFile.exec(link)?.[1]
    if (file !== undefined) t.ok(shipped.has(file), `${file} is in the package`)
  }
})
