// The built `fastify-sse-hub/client` (npm test builds first): an ES module that Node imports by
// name and a browser loads as it is, with no bundler.
import { test } from 'tap'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { listen } from './helpers/app'
import { childEnv } from './helpers/child-env'

const DIST = join(__dirname, '..', 'dist', 'client')

test('Node imports it by name from an ES module and it works over undici\'s EventSource', async (t) => {
  const { app, url } = await listen(t)
  const script = `
    import { SseClient } from 'fastify-sse-hub/client'
    import { EventSource } from 'undici'
    const client = new SseClient(${JSON.stringify(`${url}/events`)}, { EventSource })
    client.onState(({ state }) => { if (state === 'open') console.log('open') })
    client.on('greeting', (data) => { console.log(JSON.stringify(data)); client.close() }) // once: nothing after close()
  `
  const child = promisify(execFile)(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], { cwd: join(__dirname, '..'), env: childEnv() })
  const publishing = setInterval(() => { app.sse.publish({ event: 'greeting', data: { hello: 'world' } }) }, 20)
  t.teardown(() => clearInterval(publishing))
  const { stdout } = await child
  t.equal(stdout, 'open\n{"hello":"world"}\n')
})

test('the files are ES modules a browser can load: no require, no exports, relative imports with .js', async (t) => {
  t.same(JSON.parse(await readFile(join(DIST, 'package.json'), 'utf8')), { type: 'module' })
  const code = await readFile(join(DIST, 'index.js'), 'utf8')
  t.match(code, /^export class SseClient /m)
  t.notMatch(code, /\brequire\(|\bexports\.|\bmodule\.exports/)
  for (const [, specifier] of code.matchAll(/\bfrom\s+['"]([^'"]+)['"]/g)) {
    t.match(specifier, /^\.\.?\/.*\.js$/, `import ${specifier} resolves in a browser`)
  }
  t.match(await readFile(join(DIST, 'index.d.ts'), 'utf8'), /export declare class SseClient<Events extends object/)
})
