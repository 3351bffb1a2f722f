// Command-line flags and the statistics the Redis benches share.

/** `--key=value` flags (`--key` alone: 'true'). */
export function flags (argv = process.argv.slice(2)) {
  return Object.fromEntries(argv.filter((a) => a.startsWith('--')).map((a) => {
    const eq = a.indexOf('=')
    return eq === -1 ? [a.slice(2), 'true'] : [a.slice(2, eq), a.slice(eq + 1)]
  }))
}

/** The number flag `key`, or `fallback`; throws on anything else. */
export function numberFlag (args, key, fallback) {
  if (args[key] === undefined) return fallback
  const n = Number(args[key])
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${key} must be a non-negative number, got ${args[key]}`)
  return n
}

/** The number flags named by `defaults`' keys, each its default when not given (as numberFlag()). */
export function numberFlags (args, defaults) {
  return Object.fromEntries(Object.entries(defaults).map(([key, fallback]) => [key, numberFlag(args, key, fallback)]))
}

/** The `p` quantile (0 … 1) of ascending `sorted`. */
export function percentile (sorted, p) {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
}
