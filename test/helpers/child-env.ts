// Environment for child processes (the built package, the example): without tap's coverage and
// loader hooks, so only the tests' own processes measure lib/ coverage. tap's spawn hook still
// loads its process tracker, so coverage is also switched off explicitly.
export function childEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra, _TAPJS_PROCESSINFO_COVERAGE_: '0' }
  delete env.NODE_V8_COVERAGE
  delete env.NODE_OPTIONS
  for (const key of Object.keys(env)) if (key.startsWith('TAP')) delete env[key]
  return env
}
