// A stand-in for a language model: a long answer, token by token, with no network and no model.
// Words are drawn from a fixed text by a PRNG seeded with the question, so the same question
// always gets the same answer: the tests compute the text they expect with `answerText()`.
import { setTimeout as sleep } from 'node:timers/promises'

/** Tokens in every answer (paragraph breaks count as tokens). */
export const ANSWER_TOKENS = 2400

const SOURCE = `A stream is a promise kept one event at a time. The server writes, the browser listens,
and when the connection drops the browser comes back with the last id it saw, so nothing is lost
and nothing arrives twice. Every token of a long answer is kept on its topic until the answer
is old, which lets a page that reloads halfway show the whole text at once and then follow the
rest live. Proxies buffer, networks fail, laptops sleep; a naïve client starts over, a careful
one resumes. Heartbeats keep idle connections open, backpressure keeps a slow reader from
flooding the server's memory, and a final event tells every listener the answer is complete —
über-simple on the wire, façade of plain text lines over one long HTTP response.`

const WORDS = SOURCE.split(/\s+/)
  .map((word) => word.replace(/[.,;—]/g, ''))
  .filter((word) => word !== '')
  .map((word) => word.length > 1 && word === word.toUpperCase() ? word : word.toLowerCase()) // HTTP stays HTTP

/** The answer's tokens: a word with its leading space, its punctuation, or a paragraph break. */
export function answerTokens (question, count = ANSWER_TOKENS) {
  const random = mulberry32(fnv1a(question))
  const between = (min, max) => min + Math.floor(random() * (max - min + 1))
  const tokens = []
  let startOfSentence = true
  let startOfParagraph = true
  let wordsLeft = between(6, 18) // in this sentence
  let sentencesLeft = between(2, 5) // in this paragraph
  while (tokens.length < count) {
    const last = tokens.length === count - 1
    // No paragraph of a few words at the very end.
    if (!startOfParagraph && sentencesLeft === 0 && tokens.length < count - 20) {
      tokens.push('\n\n')
      startOfParagraph = true
      sentencesLeft = between(2, 5)
      continue
    }
    let word = WORDS[Math.floor(random() * WORDS.length)]
    if (startOfSentence) word = word[0].toUpperCase() + word.slice(1)
    wordsLeft--
    startOfSentence = wordsLeft === 0 || last
    if (startOfSentence) {
      word += '.'
      wordsLeft = between(6, 18)
      sentencesLeft--
    } else if (random() < 0.08) {
      word += ','
    }
    tokens.push(startOfParagraph ? word : ' ' + word)
    startOfParagraph = false
  }
  return tokens
}

/** The whole answer, as a client shows it. */
export function answerText (question) {
  return answerTokens(question).join('')
}

/**
 * The answer as a model would produce it: one token every `delayMs`; stops (rejecting with an
 * AbortError) when `signal` aborts.
 */
export async function * generateTokens (question, { delayMs = 0, signal } = {}) {
  for (const token of answerTokens(question)) {
    if (delayMs > 0) await sleep(delayMs, undefined, { signal })
    else signal?.throwIfAborted()
    yield token
  }
}

/** A 32-bit hash of the question: the PRNG's seed. */
function fnv1a (text) {
  let hash = 0x811c9dc5
  for (const byte of new TextEncoder().encode(text)) hash = Math.imul(hash ^ byte, 0x01000193)
  return hash >>> 0
}

/** A small, well-known PRNG: the same seed gives the same sequence everywhere. */
function mulberry32 (seed) {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
