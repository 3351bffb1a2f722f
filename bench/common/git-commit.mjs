// The commit a measurement was built from, and whether lib/ had uncommitted changes.
import { spawnSync } from 'node:child_process'

export function gitCommit (root) {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim()
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'lib'], { cwd: root, encoding: 'utf8' }).stdout.trim()
  return { head, libDirty: dirty !== '' }
}
