// A steady publisher for the multi-instance benches: event k = 0, 1, … leaves every 1000/rate ms
// (late ticks catch up, so the count follows the clock), round-robin over the app processes,
// as an IPC message `{ type: 'publish', k }` each process turns into one `publish()`.

/** Starts publishing; `stop()` resolves how many events were sent. At most `max` events. */
export function pacedPublisher (apps, rate, max = Infinity) {
  const interval = 1000 / rate
  const started = performance.now()
  let k = 0
  let stopped = false
  let timer
  const tick = () => {
    if (stopped) return
    while (k < max && performance.now() >= started + k * interval) {
      apps[k % apps.length].send({ type: 'publish', k })
      k++
    }
    timer = setTimeout(tick, Math.max(0, started + k * interval - performance.now()))
  }
  tick()
  return {
    sent: () => k,
    stop () {
      stopped = true
      clearTimeout(timer)
      return k
    }
  }
}
