// An incremental reader of one SSE response off a raw socket: the HTTP/1.1 response head, the
// chunked transfer coding (or a plain body) and the event stream, fed with whatever slices the
// socket hands over. It works on bytes and allocates only for lines split across reads, so the
// load generator stays well ahead of the servers it measures.

const LF = 10
const CR = 13
const COLON = 58
const SPACE = 32
const HEAD_END = Buffer.from('\r\n\r\n')

const HEAD = 0
const SIZE = 1
const DATA = 2
const DATA_END = 3
const RAW = 4
const ENDED = 5

/**
 * `handlers.head(status, headers)` once the response head is read; `handlers.event(type, data)`
 * for every event not named `tick` or `token`; `handlers.tick(seq, stamp)` for every `tick`
 * event, with `seq` and `stamp` (the publish time in ns) read from its JSON payload, and for
 * every `token` event (the answers cells), read from its text `<seq> <stamp>…`; `handlers.end()` when
 * the body ends; `handlers.error(message)` when the bytes are not what they should be.
 */
export class SseReader {
  constructor (handlers) {
    this.handlers = handlers
    this.state = HEAD
    this.pendingHead = null
    this.sizeLine = ''
    this.chunkLeft = 0
    this.crlfLeft = 0
    this.partial = null
    this.isTick = false
    this.isToken = false
    this.type = null
    this.dataBuf = null
    this.dataStart = 0
    this.dataEnd = 0
    this.dataText = null
  }

  push (chunk) {
    // After the last chunk only its trailer (a CRLF) can follow; after an error, nothing matters.
    if (this.state === ENDED) return
    let i = 0
    if (this.state === HEAD) {
      i = this.readHead(chunk)
      if (i < 0) return
    }
    if (this.state === RAW) {
      if (i < chunk.length) this.feed(chunk, i, chunk.length)
      return
    }
    const len = chunk.length
    while (i < len) {
      switch (this.state) {
        case SIZE: {
          const lf = chunk.indexOf(LF, i)
          if (lf === -1) {
            this.sizeLine += chunk.toString('latin1', i, len)
            return
          }
          const line = this.sizeLine + chunk.toString('latin1', i, lf)
          this.sizeLine = ''
          i = lf + 1
          const size = parseInt(line, 16)
          if (Number.isNaN(size)) return this.fail(`bad chunk size line ${JSON.stringify(line)}`)
          if (size === 0) {
            this.state = ENDED
            this.handlers.end()
            return
          }
          this.chunkLeft = size
          this.state = DATA
          break
        }
        case DATA: {
          const end = Math.min(len, i + this.chunkLeft)
          this.chunkLeft -= end - i
          this.feed(chunk, i, end)
          i = end
          if (this.chunkLeft === 0) {
            this.state = DATA_END
            this.crlfLeft = 2
          }
          break
        }
        case DATA_END:
          if (chunk[i] !== (this.crlfLeft === 2 ? CR : LF)) return this.fail('chunk not followed by CRLF')
          i++
          if (--this.crlfLeft === 0) this.state = SIZE
          break
        default:
          return
      }
    }
  }

  /** Reads the response head; returns where the body starts in `chunk`, or -1 for more. */
  readHead (chunk) {
    const buf = this.pendingHead === null ? chunk : Buffer.concat([this.pendingHead, chunk])
    const end = buf.indexOf(HEAD_END)
    if (end === -1) {
      if (buf.length > 16384) this.fail('response head too large')
      else this.pendingHead = buf
      return -1
    }
    const lines = buf.toString('latin1', 0, end).split('\r\n')
    const status = Number(lines[0].split(' ')[1])
    const headers = {}
    for (let k = 1; k < lines.length; k++) {
      const colon = lines[k].indexOf(':')
      headers[lines[k].slice(0, colon).trim().toLowerCase()] = lines[k].slice(colon + 1).trim()
    }
    this.state = /chunked/i.test(headers['transfer-encoding'] ?? '') ? SIZE : RAW
    this.handlers.head(status, headers)
    // A head that ended in the bytes kept from before would have been found then.
    const bodyStart = end + 4 - (buf.length - chunk.length)
    this.pendingHead = null
    return bodyStart
  }

  /** The event-stream bytes `buf[start, end)`: splits lines, keeping a split line for later. */
  feed (buf, start, end) {
    let pos = start
    if (this.partial !== null) {
      const lf = indexOfLf(buf, pos, end)
      if (lf === -1) {
        this.partial = Buffer.concat([this.partial, buf.subarray(pos, end)])
        return
      }
      const line = Buffer.concat([this.partial, buf.subarray(pos, lf)])
      this.partial = null
      this.line(line, 0, line.length)
      pos = lf + 1
    }
    while (pos < end) {
      const lf = indexOfLf(buf, pos, end)
      if (lf === -1) {
        this.partial = Buffer.from(buf.subarray(pos, end))
        return
      }
      this.line(buf, pos, lf)
      pos = lf + 1
    }
  }

  line (buf, start, end) {
    if (end > start && buf[end - 1] === CR) end--
    if (end === start) return this.dispatch()
    const first = buf[start]
    if (first === COLON) return // a comment
    if (first === 100 && buf[start + 1] === 97 && buf[start + 2] === 116 && buf[start + 3] === 97 && buf[start + 4] === COLON) {
      let v = start + 5
      if (buf[v] === SPACE) v++
      if (this.dataBuf === null && this.dataText === null) {
        this.dataBuf = buf
        this.dataStart = v
        this.dataEnd = end
      } else {
        if (this.dataBuf !== null) {
          this.dataText = this.dataBuf.toString('latin1', this.dataStart, this.dataEnd)
          this.dataBuf = null
        }
        this.dataText += '\n' + buf.toString('latin1', v, end)
      }
      return
    }
    // event:
    if (first === 101 && buf[start + 1] === 118 && buf[start + 2] === 101 && buf[start + 3] === 110 && buf[start + 4] === 116 && buf[start + 5] === COLON) {
      let v = start + 6
      if (buf[v] === SPACE) v++
      // tick
      this.isTick = end - v === 4 && buf[v] === 116 && buf[v + 1] === 105 && buf[v + 2] === 99 && buf[v + 3] === 107
      // token
      this.isToken = end - v === 5 && buf[v] === 116 && buf[v + 1] === 111 && buf[v + 2] === 107 && buf[v + 3] === 101 && buf[v + 4] === 110
      this.type = this.isTick || this.isToken ? null : buf.toString('latin1', v, end)
    }
    // id: and retry: lines carry nothing the benchmark checks.
  }

  dispatch () {
    const isTick = this.isTick
    const isToken = this.isToken
    const type = this.type
    this.isTick = false
    this.isToken = false
    this.type = null
    if (this.dataBuf === null && this.dataText === null) return // an id-only or retry frame
    if (isToken) {
      if (this.dataText === null && this.readToken(this.dataBuf, this.dataStart, this.dataEnd)) {
        this.dataBuf = null
        return
      }
      const text = this.dataText ?? this.dataBuf.toString('latin1', this.dataStart, this.dataEnd)
      this.dataBuf = null
      this.dataText = null
      const match = /^(\d+) (\d+)/.exec(text)
      if (match === null) return this.fail(`token data is not "<seq> <stamp>": ${text.slice(0, 80)}`)
      this.handlers.tick(Number(match[1]), Number(match[2]))
      return
    }
    if (!isTick) {
      const data = this.dataText ?? this.dataBuf.toString('latin1', this.dataStart, this.dataEnd)
      this.dataBuf = null
      this.dataText = null
      this.handlers.event(type ?? 'message', data)
      return
    }
    if (this.dataText === null && this.readTick(this.dataBuf, this.dataStart, this.dataEnd)) {
      this.dataBuf = null
      return
    }
    const text = this.dataText ?? this.dataBuf.toString('latin1', this.dataStart, this.dataEnd)
    this.dataBuf = null
    this.dataText = null
    let payload
    try {
      payload = JSON.parse(text)
    } catch {
      return this.fail(`tick data is not JSON: ${text.slice(0, 80)}`)
    }
    if (!Number.isInteger(payload?.s) || typeof payload.t !== 'string') return this.fail(`tick data lacks s or t: ${text.slice(0, 80)}`)
    this.handlers.tick(payload.s, Number(payload.t))
  }

  /** The fast path: `{"s":<digits>,"t":"<digits>"` read in place; false when it is not that. */
  readTick (buf, start, end) {
    // {"s":
    if (end - start < 12 || buf[start] !== 123 || buf[start + 1] !== 34 || buf[start + 2] !== 115 || buf[start + 3] !== 34 || buf[start + 4] !== COLON) return false
    let p = start + 5
    let seq = 0
    let digits = 0
    for (; p < end; p++) {
      const c = buf[p] - 48
      if (c < 0 || c > 9) break
      seq = seq * 10 + c
      digits++
    }
    // ,"t":"
    if (digits === 0 || buf[p] !== 44 || buf[p + 1] !== 34 || buf[p + 2] !== 116 || buf[p + 3] !== 34 || buf[p + 4] !== COLON || buf[p + 5] !== 34) return false
    p += 6
    let stamp = 0
    digits = 0
    for (; p < end; p++) {
      const c = buf[p] - 48
      if (c < 0 || c > 9) break
      stamp = stamp * 10 + c
      digits++
    }
    if (digits === 0 || buf[p] !== 34) return false
    this.handlers.tick(seq, stamp)
    return true
  }

  /** The fast path of a text token: `<digits> <digits>` read in place; false when it is not that. */
  readToken (buf, start, end) {
    let p = start
    let seq = 0
    for (; p < end; p++) {
      const c = buf[p] - 48
      if (c < 0 || c > 9) break
      seq = seq * 10 + c
    }
    if (p === start || buf[p] !== SPACE) return false
    const from = ++p
    let stamp = 0
    for (; p < end; p++) {
      const c = buf[p] - 48
      if (c < 0 || c > 9) break
      stamp = stamp * 10 + c
    }
    if (p === from) return false
    this.handlers.tick(seq, stamp)
    return true
  }

  fail (message) {
    this.state = ENDED
    this.handlers.error(message)
  }
}

function indexOfLf (buf, from, end) {
  const at = buf.indexOf(LF, from)
  return at === -1 || at >= end ? -1 : at
}
