// What an event's schema says about its JSON, read once at registration: the kinds JSON cannot
// carry (refused, with what to use instead) and the schemas a `$ref` points to.
import { Kind, type TSchema } from '@sinclair/typebox'
import { FST_SSE_INVALID_OPTION } from './errors'

const NOT_JSON: Record<string, string> = {
  Date: "use Type.String() and send date.toISOString() (add { format: 'date-time' } once that format is in TypeBox's FormatRegistry)",
  Uint8Array: "use Type.String({ contentEncoding: 'base64' }) and send Buffer.from(bytes).toString('base64')",
  BigInt: "use Type.String({ pattern: '^-?[0-9]+$' }) and send value.toString(), or Type.Integer() when it fits in a double",
  Undefined: 'make the property Type.Optional(...) (an undefined property is left out), or use Type.Null()',
  Void: 'make the property Type.Optional(...) (an undefined property is left out), or use Type.Null()',
  Symbol: 'use Type.String() and send symbol.description',
  Function: 'send data, not code',
  Constructor: 'send data, not code',
  Promise: 'await it and declare what it resolves to',
  Iterator: 'collect it into an array: Type.Array(...)',
  AsyncIterator: 'collect it into an array (Type.Array(...)), or send one event per item'
}

/** Throws FST_SSE_INVALID_OPTION naming `option` and the path of the first kind JSON cannot carry. */
export function refuseNonJsonKinds (option: string, schema: TSchema): void {
  for (const [path, node] of walk(schema, '')) {
    const instead = NOT_JSON[node[Kind]]
    if (instead !== undefined) {
      throw new FST_SSE_INVALID_OPTION(option, `declares Type.${node[Kind]}() at ${path === '' ? '/' : path}, which JSON cannot carry: ${instead}`)
    }
  }
}

/** Every schema in `schema` with an `$id`, by id: what `Type.Recursive` and `Type.Module` refer to. */
export function schemaIds (schema: TSchema): Map<string, TSchema> {
  const ids = new Map<string, TSchema>()
  for (const [, node] of walk(schema, '')) {
    if (typeof node.$id === 'string') ids.set(node.$id, node)
  }
  return ids
}

/**
 * `schema` and every schema nested in it, each with the path of the values it describes (`*` for
 * any array item or record key). A `$ref` is not followed: its target is nested elsewhere.
 */
function * walk (schema: TSchema, path: string): Generator<[string, TSchema]> {
  yield [path, schema]
  for (const [key, property] of Object.entries(schema.properties ?? {})) yield * walk(property as TSchema, `${path}/${key}`)
  for (const property of Object.values(schema.patternProperties ?? {})) yield * walk(property as TSchema, `${path}/*`)
  for (const keyword of ['additionalProperties', 'unevaluatedProperties', 'additionalItems', 'contains']) {
    if (isSchema(schema[keyword])) yield * walk(schema[keyword], `${path}/*`)
  }
  if (Array.isArray(schema.items)) {
    for (const [index, item] of (schema.items as TSchema[]).entries()) yield * walk(item, `${path}/${index}`)
  } else if (isSchema(schema.items)) {
    yield * walk(schema.items, `${path}/*`)
  }
  for (const member of [...(schema.anyOf ?? []), ...(schema.allOf ?? []), ...(schema.oneOf ?? [])]) yield * walk(member, path)
  for (const [name, definition] of Object.entries(schema.$defs ?? {})) yield * walk(definition as TSchema, `${path}/$defs/${name}`)
}

function isSchema (value: unknown): value is TSchema {
  return typeof value === 'object' && value !== null
}
