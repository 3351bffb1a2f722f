import { test } from 'tap'
import { encodeComment, encodeEvent, encodeIdOnly, encodeRetry, hasLineBreakOrNul } from '../../lib/protocol/encode'
import { SseParser, type ParsedItem } from '../helpers/sse-parser'

function parse (text: string): ParsedItem[] {
  const items: ParsedItem[] = []
  new SseParser((item) => items.push(item)).push(text)
  return items
}

test('an event frame: id, event, one data line per line, blank line', async (t) => {
  t.equal(encodeEvent('e-1', 'note', '{"a":1}'), 'id: e-1\nevent: note\ndata: {"a":1}\n\n')
  t.equal(encodeEvent(undefined, 'note', 'x'), 'event: note\ndata: x\n\n')
  t.equal(encodeEvent('e-2', 'message', 'x'), 'id: e-2\ndata: x\n\n', '`message` is the default type')
})

test('CRLF, CR and LF each end a data line; none is emitted raw', async (t) => {
  const frame = encodeEvent('e-1', 'note', 'a\r\nb\rc\nd')
  t.equal(frame, 'id: e-1\nevent: note\ndata: a\ndata: b\ndata: c\ndata: d\n\n')
  const [item] = parse(frame)
  t.same(item.event, { type: 'note', data: 'a\nb\nc\nd', lastEventId: 'e-1' })
  t.equal(encodeEvent(undefined, 'note', ''), 'event: note\ndata: \n\n')
})

test('id-only frames, retry and comments', async (t) => {
  t.equal(encodeIdOnly('e-0'), 'id: e-0\n\n')
  t.equal(encodeIdOnly('e-0', 2000), 'retry: 2000\nid: e-0\n\n')
  const items = parse(encodeIdOnly('e-0', 2000))
  t.same(items.map((i) => i.kind), ['retry', 'id-only'])
  t.equal(items[1].id, 'e-0')
  t.equal(encodeRetry(0), 'retry: 0\n\n')
  t.same(parse(encodeRetry(1500)), [{ kind: 'retry', retry: 1500 }])
  t.equal(encodeComment(''), ':\n\n')
  t.equal(encodeComment('ping'), ': ping\n\n')
  t.same(parse(encodeComment('ping')), [{ kind: 'comment', comment: ' ping' }])
})

test('hasLineBreakOrNul', async (t) => {
  t.equal(hasLineBreakOrNul('plain name'), false)
  t.equal(hasLineBreakOrNul('a\nb'), true)
  t.equal(hasLineBreakOrNul('a\rb'), true)
  t.equal(hasLineBreakOrNul('a\0b'), true)
})
