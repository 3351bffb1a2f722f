// Value checks shared by the plugin's options, the Redis store's options and the hub's errors.
// No dependency, so the `./redis` entry point loads no TypeBox for them.
import { FST_SSE_INVALID_OPTION } from './errors'

/** setTimeout's largest delay. */
export const MAX_TIMER_MS = 2_147_483_647

/** Only an absent option takes its default: `null` is a wrong value, and says so. */
export function orDefault (value: unknown, fallback: unknown): unknown {
  return value === undefined ? fallback : value
}

/** Throws FST_SSE_INVALID_OPTION naming `name` unless `value` is an integer in [min, max]. */
export function checkInteger (name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new FST_SSE_INVALID_OPTION(name, `must be an integer from ${min} to ${max}, got ${typeof value === 'number' ? value : describe(value)}`)
  }
  return value
}

/** No lone surrogate (String.prototype.isWellFormed, Node.js 20, newer than the ES2022 typings). */
export function isWellFormed (text: string): boolean {
  return (text as string & { isWellFormed (): boolean }).isWellFormed()
}

/** A wrong value, as an error message shows it. */
export function describe (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return JSON.stringify(value)
  return typeof value
}
