// Child processes of a bench that talk over IPC: pinned to a core (pinnedNode()), every one
// killed when the bench fails, and a way to wait for a given message.
import { spawn } from 'node:child_process'
import { pinnedNode } from './pinned.mjs'

const children = new Set()

/** Runs `node script ...argv` pinned to `core` (undefined: unpinned) with an IPC channel. */
export function forkPinned (core, script, argv) {
  const [cmd, args] = core === undefined ? [process.execPath, [script, ...argv]] : pinnedNode(core, [script, ...argv])
  const proc = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  children.add(proc)
  proc.on('exit', () => children.delete(proc))
  return proc
}

/** The next message of `type` (and `matches`) from `proc`; rejects after `timeoutMs` or when it exits. */
export function nextMessage (proc, type, { matches = () => true, timeoutMs = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const done = (fn, value) => {
      clearTimeout(timer)
      proc.off('message', listener)
      proc.off('exit', onExit)
      fn(value)
    }
    const listener = (message) => { if (message.type === type && matches(message)) done(resolve, message) }
    const onExit = (code, signal) => done(reject, new Error(`child exited (${code ?? signal}) while waiting for "${type}"`))
    const timer = setTimeout(() => done(reject, new Error(`no "${type}" from the child in ${timeoutMs} ms`)), timeoutMs)
    proc.on('message', listener)
    proc.on('exit', onExit)
  })
}

/** Ends a child: `close` asked over IPC, then SIGKILL after `graceMs`. */
export async function endChild (proc, graceMs = 3000) {
  if (proc.exitCode !== null || proc.signalCode !== null) return
  const exited = new Promise((resolve) => proc.once('exit', resolve))
  if (proc.connected) proc.send({ type: 'close' })
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}

/** Kills every child still running (a failed or timed-out bench). */
export function killChildren () {
  for (const proc of children) proc.kill('SIGKILL')
}

/** In a child: exit when the bench that started it goes away, whatever happens to it. */
export function exitWithParent () {
  process.on('disconnect', () => process.exit(0))
}
