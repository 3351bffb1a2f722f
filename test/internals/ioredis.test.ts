// The `./redis` entry point without ioredis installed: it says what to install; any other
// failure to load ioredis passes through unchanged.
import { test } from 'tap'
import Module from 'node:module'

type Resolve = (request: string, ...rest: unknown[]) => string
const loader = Module as unknown as { _resolveFilename: Resolve }

function loadWith (failure: Error): unknown {
  const resolve = loader._resolveFilename
  loader._resolveFilename = function (this: unknown, request: string, ...rest: unknown[]) {
    if (request === 'ioredis') throw failure
    return resolve.call(this, request, ...rest)
  }
  const path = require.resolve('../../lib/store/ioredis')
  delete require.cache[path]
  try {
    require(path)
    return undefined
  } catch (err) {
    return err
  } finally {
    loader._resolveFilename = resolve
    delete require.cache[path]
  }
}

test('ioredis missing: a message that says what to install, the cause attached', async (t) => {
  const missing = Object.assign(new Error("Cannot find module 'ioredis'"), { code: 'MODULE_NOT_FOUND' })
  t.match(loadWith(missing), { code: 'MODULE_NOT_FOUND', message: /needs ioredis, an optional peer dependency: npm install ioredis/, cause: missing })
})

test('another failure while loading ioredis passes through unchanged', async (t) => {
  const inner = Object.assign(new Error("Cannot find module 'standard-as-callback'"), { code: 'MODULE_NOT_FOUND' })
  t.equal(loadWith(inner), inner)
  const broken = new SyntaxError('Unexpected token')
  t.equal(loadWith(broken), broken)
})
