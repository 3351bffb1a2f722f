// Runs a bench process pinned to one core (so server and load generator never share one) with a
// raised open-files limit (tens of thousands of sockets).
import { spawnSync } from 'node:child_process'

const FDS = 65536

/** False where `taskset` is missing: processes then run unpinned, and the results say so. */
export const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0

/** The command and arguments that run `node ...nodeArgs` pinned to `core` with a raised open-files limit. */
export function pinnedNode (core, nodeArgs) {
  const quoted = nodeArgs.map((arg) => `'${String(arg).replaceAll("'", "'\\''")}'`).join(' ')
  const pin = hasTaskset ? `taskset -c ${core} ` : ''
  return ['bash', ['-c', `ulimit -n ${FDS} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec ${pin}${JSON.stringify(process.execPath)} ${quoted}`]]
}
