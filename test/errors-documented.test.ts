// Every error code the plugin exports has a row in the README's error table, and vice versa.
import { test } from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as errors from '../lib/errors'
import * as entry from '../lib/index'

test('the README error table and lib/errors.ts list the same codes', async (t) => {
  const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8')
  const table = readme.split('## Errors')[1].split('\n## ')[0]
  const documented = [...table.matchAll(/^\| `(FST_SSE_[A-Z_]+)` \|/gm)].map((m) => m[1]).sort()
  const declared = Object.values(errors).map((E) => new E().code).sort()
  t.ok(declared.length >= 7)
  t.same(documented, declared)
})

test('each error is exported from the package entry point under its code', async (t) => {
  for (const E of Object.values(errors)) {
    const code = new E().code
    t.equal((entry as Record<string, unknown>)[code], E, code)
  }
})
