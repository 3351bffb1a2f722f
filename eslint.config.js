'use strict'

module.exports = require('neostandard')({
  ts: true,
  filesTs: ['**/*.mts'],
  ignores: ['dist/**', 'coverage/**', '.tap/**', 'bench/node_modules/**', 'test-artifacts/**']
})
