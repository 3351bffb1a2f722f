// How long this process was runnable but kept off its core (Linux schedstat): the time other
// processes on the same core took from it. A run with much of it was disturbed, not slow.
import { readFileSync } from 'node:fs'

/** Nanoseconds spent waiting on a run queue so far; NaN where the kernel does not say. */
export function runQueueWaitNs () {
  try {
    return Number(readFileSync('/proc/self/schedstat', 'latin1').split(' ')[1])
  } catch {
    return NaN
  }
}
