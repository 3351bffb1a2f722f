import { test } from 'tap'
import { formatEventId, isEpoch, newEpoch, parseEventId } from '../../lib/protocol/event-id'

test('epochs differ between hubs and are valid id prefixes', async (t) => {
  const a = newEpoch()
  const b = newEpoch()
  t.not(a, b)
  t.ok(isEpoch(a))
  t.notOk(isEpoch('has-dash'))
  t.notOk(isEpoch(''))
})

test('parseEventId accepts only ids of this epoch up to the newest seq', async (t) => {
  const epoch = 'abc123'
  t.equal(formatEventId(epoch, 7), 'abc123-7')
  t.equal(parseEventId('abc123-7', epoch, 10), 7)
  t.equal(parseEventId('abc123-0', epoch, 0), 0)
  t.equal(parseEventId('abc123-11', epoch, 10), undefined, 'beyond the newest id')
  t.equal(parseEventId('other-7', epoch, 10), undefined, 'another epoch')
  t.equal(parseEventId('abc123-07', epoch, 10), undefined, 'leading zero')
  t.equal(parseEventId('abc123-x', epoch, 10), undefined)
  t.equal(parseEventId('abc123-', epoch, 10), undefined)
  t.equal(parseEventId('-7', epoch, 10), undefined)
  t.equal(parseEventId('garbage', epoch, 10), undefined)
  t.equal(parseEventId('abc123-99999999999999999', epoch, Number.MAX_SAFE_INTEGER), undefined, 'too many digits')
})
