// Headless Chromium for the browser suite, and the example server run the way `npm start` runs it.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { once } from 'node:events'
import { join } from 'node:path'
import { chromium, type Browser } from 'playwright-core'
import type { Test } from 'tap'
import { childEnv } from './child-env'

export const CHROMIUM = '/usr/bin/chromium'
const ROOT = join(__dirname, '..', '..')

/**
 * True when Chromium is missing: the suite is skipped with the reason, or fails when
 * SSE_REQUIRE_BROWSER=1 (CI installs Chromium and must never skip it).
 */
export function chromiumMissing (t: Test): boolean {
  if (existsSync(CHROMIUM)) return false
  const reason = `no Chromium at ${CHROMIUM} for the browser suite (apt-get install -y chromium)`
  if (process.env.SSE_REQUIRE_BROWSER === '1') t.fail(`${reason}; SSE_REQUIRE_BROWSER=1 forbids skipping it`)
  else t.plan(0, reason)
  return true
}

export async function launchChromium (t: Test): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(() => browser.close())
  return browser
}

export interface ExampleServer {
  url: string
  port: number
  /** SIGTERM, as Ctrl-C would: the app closes its streams and exits. */
  stop (): Promise<void>
  /** POSTs JSON to the example and returns the parsed answer. */
  post (path: string, body: unknown): Promise<any>
}

/**
 * Runs `node example/server.mjs` (the package must be built) on `port`, 0 for any; `env` adds
 * to its environment (ANSWER_TOKEN_MS: the stand-in model's pace).
 */
export async function startExample (t: Test, port = 0, env: Record<string, string> = {}): Promise<ExampleServer> {
  const child: ChildProcess = spawn(process.execPath, [join(ROOT, 'example', 'server.mjs')], {
    cwd: ROOT,
    env: childEnv({ ...env, PORT: String(port), HOST: '127.0.0.1' }),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stderr?.on('data', (chunk) => { output += chunk })
  const exited = once(child, 'exit')
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the example did not start in 10 s: ${output}`)), 10_000)
    child.stdout?.on('data', (chunk) => {
      output += chunk
      const match = /open (http:\/\/\S+)/.exec(output)
      if (match !== null) {
        clearTimeout(timer)
        resolve(match[1])
      }
    })
    child.once('exit', (code) => reject(new Error(`the example exited with ${code}: ${output}`)))
  })
  return {
    url,
    port: Number(new URL(url).port),
    async stop () {
      child.kill('SIGTERM')
      const [code] = await exited
      if (code !== 0) throw new Error(`the example exited with ${code}: ${output}`)
    },
    async post (path, body) {
      const response = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      if (!response.ok) throw new Error(`POST ${path}: ${response.status} ${await response.text()}`)
      return response.json()
    }
  }
}
