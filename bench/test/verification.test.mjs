// The load generator must fail a run in which any client misses, repeats or reorders an event.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const fixture = fileURLToPath(new URL('../fixtures/misbehaving-server.mjs', import.meta.url))
const load = fileURLToPath(new URL('../load.mjs', import.meta.url))

async function runAgainst (mode, cell = { clients: 10, events: 50, size: 64, warm: 5 }) {
  const server = spawn(process.execPath, [fixture, mode], { stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    const port = await new Promise((resolve, reject) => {
      server.stdout.once('data', (chunk) => resolve(JSON.parse(String(chunk)).port))
      server.once('exit', reject)
    })
    const config = { port, ...cell, deliverTimeoutMs: 5000, connectTimeoutMs: 5000 }
    const { stdout } = await promisify(execFile)(process.execPath, [load, JSON.stringify(config)], { timeout: 30_000 })
    return JSON.parse(stdout)
  } finally {
    server.kill()
  }
}

test('a faithful server passes', async () => {
  const result = await runAgainst('none')
  assert.equal(result.ok, true)
  assert.equal(result.deliveries, 500)
})

for (const [mode, message] of [['drop', /event 12 missing/], ['repeat', /event 12 repeated or out of order/], ['reorder', /event 12 missing \(got 13\)/]]) {
  test(`a ${mode} fails the run`, async () => {
    const result = await runAgainst(mode)
    assert.equal(result.ok, false)
    assert.match(result.error, message)
  })
}

const USERS = { mode: 'users', clients: 10, topics: 'multi', rounds: 2, size: 64 }

test('users: a faithful server passes', async () => {
  const result = await runAgainst('none', USERS)
  assert.equal(result.ok, true)
  assert.equal(result.rounds.length, 2)
})

test('users: an event delivered to another user fails the run', async () => {
  const result = await runAgainst('cross', USERS)
  assert.equal(result.ok, false)
  assert.match(result.error, /client 3: event 0 repeated or out of order/)
})

const ANSWERS = { mode: 'answers', clients: 10, tokens: 30, warmClients: 0 }

test('answers: a faithful server passes', async () => {
  const result = await runAgainst('none', ANSWERS)
  assert.equal(result.ok, true)
  assert.equal(result.tokens, 300)
})

test('answers: a warm-up round on other connections first', async () => {
  const result = await runAgainst('none', { ...ANSWERS, warmClients: 3 })
  assert.equal(result.ok, true)
  assert.equal(result.tokens, 300)
})

for (const [mode, message] of [['drop', /token 12 missing \(got 13\)/], ['short', /answer ended after 29 of 30 tokens/]]) {
  test(`answers: a ${mode} fails the run`, async () => {
    const result = await runAgainst(mode, ANSWERS)
    assert.equal(result.ok, false)
    assert.match(result.error, message)
  })
}

const STALL = { mode: 'stall', tokens: 1000, stableMs: 200 }

test('stall: a server within its bound passes', async () => {
  const result = await runAgainst('none', STALL)
  assert.equal(result.ok, true)
  assert.equal(result.withinBound, true)
  assert.equal(result.bound, 65536 + 48)
})

test('stall: a server over its bound fails the run', async () => {
  const result = await runAgainst('hoard', STALL)
  assert.equal(result.ok, false)
  assert.match(result.error, /holds 1048576 B for the stalled client, over highWaterMark 65536 \+ one message 48 = 65584 B/)
})
