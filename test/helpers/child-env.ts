// Environment for child processes that run the built package: without tap's coverage and
// loader hooks, so only the tests' own process measures lib/ coverage.
export function childEnv (): NodeJS.ProcessEnv {
  const env = { ...process.env }
  delete env.NODE_V8_COVERAGE
  delete env.NODE_OPTIONS
  for (const key of Object.keys(env)) if (key.startsWith('TAP')) delete env[key]
  return env
}
