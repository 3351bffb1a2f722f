// What the Redis benches share to compare builds: the checkouts to run (this one, and `--alt`'s),
// a deadline that ends a stuck run, and repetitions with the builds' order rotating each time.
import { gitCommit } from './git-commit.mjs'
import { HERE, checkBuilt } from './hub-instance.mjs'
import { killChildren } from './ipc.mjs'

/** `[{ id: 'this', root, commit }]`, plus `alt` when `--alt=/path/to/checkout` was given. */
export function buildsToCompare (args) {
  const builds = [{ id: 'this', root: checkBuilt(HERE), commit: gitCommit(HERE) }]
  if (args.alt !== undefined) builds.push({ id: 'alt', root: checkBuilt(args.alt), commit: gitCommit(args.alt) })
  return builds
}

/** Ends the whole run (children too) when it is not done within `ms`; returns the timer to clear. */
export function deadlineFor (bench, ms) {
  return setTimeout(() => {
    console.error(`${bench}: not done within ${ms} ms`)
    killChildren()
    process.exit(2)
  }, ms).unref()
}

/** `run(item, rep)` for each item, `reps` times, starting one item further each time; the results with `rep`. */
export async function rotating (items, reps, run) {
  const runs = []
  for (let rep = 0; rep < reps; rep++) {
    for (let i = 0; i < items.length; i++) runs.push({ rep, ...await run(items[(i + rep) % items.length], rep) })
  }
  return runs
}

/** Runs the coordinating process's `main`; a failure ends the children and exits with 1. */
export function runMain (main) {
  main().catch((err) => {
    console.error(err)
    killChildren()
    process.exit(1)
  })
}
