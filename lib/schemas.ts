// Event name -> validator compiled once at register; the checks every payload goes through.
import { type TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck, type ValueError } from '@sinclair/typebox/compiler'
import { FST_SSE_INVALID_DATA, FST_SSE_INVALID_FIELD, FST_SSE_INVALID_OPTION, FST_SSE_UNKNOWN_EVENT } from './errors'
import { describe, isWellFormed } from './checks'
import { hasLineBreakOrNul, RESET_EVENT } from './protocol/encode'
import { compileProjection, type Projection } from './wire-projection'
import { refuseNonJsonKinds } from './wire-schema'

/**
 * Event name -> TypeBox schema. Matched by shape (every TypeBox schema type carries `static`),
 * so the CommonJS and ESM builds of TypeBox both fit, whichever one the app's TypeScript loads.
 */
export type SseEventSchemas = Record<string, { static: unknown }>

/** Throws FST_SSE_INVALID_FIELD unless `value` can be an event name or a topic. */
export function checkField (what: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value === '') {
    throw new FST_SSE_INVALID_FIELD(`${what} must be a non-empty string, got ${describe(value)}`)
  }
  if (hasLineBreakOrNul(value)) {
    throw new FST_SSE_INVALID_FIELD(`${what} must not contain CR, LF or NUL, got ${JSON.stringify(value)}`)
  }
  // Sent and stored as UTF-8, where every lone surrogate becomes U+FFFD: two topics would be one.
  if (!isWellFormed(value)) {
    throw new FST_SSE_INVALID_FIELD(`${what} must be well-formed Unicode (no lone surrogate), got ${JSON.stringify(value)}`)
  }
}

/** Throws FST_SSE_INVALID_FIELD for a key `what` does not take: a misspelt `topic` must not pass. */
export function rejectUnknownKeys (what: string, value: object, known: readonly string[]): void {
  for (const key in value) {
    if (!known.includes(key)) {
      throw new FST_SSE_INVALID_FIELD(`${what} takes no ${JSON.stringify(key)} (it takes ${known.join(', ')})`)
    }
  }
}

/** What an event's data goes through: its JSON form is built, then checked. */
interface EventWire {
  project: Projection
  validator: TypeCheck<TSchema>
}

export class EventChecker {
  private readonly wires: Map<string, EventWire> | undefined

  constructor (schemas: SseEventSchemas | undefined) {
    if (schemas === undefined) return
    this.wires = new Map()
    for (const name of Object.keys(schemas)) {
      const schema = schemas[name] as TSchema
      let validator: TypeCheck<TSchema>
      try {
        validator = TypeCompiler.Compile(schema)
      } catch (err) {
        throw new FST_SSE_INVALID_OPTION(`events.${name}`, `cannot be compiled by TypeBox (${(err as Error).message}): Type.Unsafe and custom kinds need TypeRegistry.Set(kind, check); a string enum is Type.Union([Type.Literal('a'), ...])`)
      }
      refuseNonJsonKinds(`events.${name}`, schema)
      this.wires.set(name, { project: compileProjection(schema), validator })
    }
  }

  /** Checks name and payload and returns the payload's JSON text, or throws a coded error. */
  serialize (event: unknown, data: unknown): string {
    checkField('event name', event)
    const wire = this.wireOf(event)
    if (wire !== undefined) {
      // The check runs on what JSON.stringify will write: declared properties only, toJSON() applied.
      try {
        data = wire.project(data)
      } catch (err) {
        throw new FST_SSE_INVALID_DATA(event, `not JSON-serialisable (${(err as Error).message})`)
      }
      if (!wire.validator.Check(data)) {
        // Built only after a failed check: the hot path never pays for error details.
        const error = wire.validator.Errors(data).First() as ValueError
        throw new FST_SSE_INVALID_DATA(event, `${error.path === '' ? '/' : error.path}: ${error.message}`)
      }
    }
    let json: string | undefined
    try {
      json = JSON.stringify(data)
    } catch (err) {
      throw new FST_SSE_INVALID_DATA(event, `not JSON-serialisable (${(err as Error).message})`)
    }
    if (json === undefined) throw new FST_SSE_INVALID_DATA(event, `not JSON-serialisable (${describe(data)})`)
    return json
  }

  /** Checks name and verbatim `text` (a string value of the event's schema); returns the text. */
  checkText (event: unknown, text: unknown): string {
    checkField('event name', event)
    if (typeof text !== 'string') throw new FST_SSE_INVALID_FIELD(`\`text\` must be a string (written verbatim), got ${describe(text)}; use \`data\` for JSON`)
    const wire = this.wireOf(event)
    // Check() is a type guard: a string that fails it would be `never` below.
    const shown: string = text
    if (wire !== undefined && !wire.validator.Check(text)) {
      const error = wire.validator.Errors(text).First() as ValueError
      throw new FST_SSE_INVALID_DATA(event, `text ${JSON.stringify(shown.length > 40 ? shown.slice(0, 40) + '…' : shown)} is not a string value of its schema (${error.message}); use \`data\` for JSON`)
    }
    return text
  }

  /** The event's schema, after the checks of its name; `undefined` when no events are declared. */
  private wireOf (event: string): EventWire | undefined {
    if (event === RESET_EVENT) {
      throw new FST_SSE_INVALID_FIELD(`the event name "${RESET_EVENT}" is reserved: the hub sends it when a client cannot resume`)
    }
    if (this.wires === undefined) return undefined
    const wire = this.wires.get(event)
    if (wire === undefined) throw new FST_SSE_UNKNOWN_EVENT(event, [...this.wires.keys()].join(', '))
    return wire
  }
}
