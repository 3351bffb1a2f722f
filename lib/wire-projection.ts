// Compiles an event's schema into the function that builds what its JSON will carry: only the
// properties the schema declares, each value as JSON.stringify sees it (after its toJSON()).
// The hub checks that value and stringifies it, so the wire carries exactly what was checked.
import { Kind, Type, type TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { schemaIds } from './wire-schema'

/** Builds the value whose JSON is sent for `value`; throws what a toJSON() throws. */
export type Projection = (value: unknown) => unknown

type Project = (value: unknown, key: string | number) => unknown

// Values with no object inside, which a projection leaves as they are.
const SCALAR_KINDS = new Set(['String', 'Number', 'Integer', 'Boolean', 'Null', 'Literal', 'TemplateLiteral', 'RegExp', 'Never'])
// No shape to enforce: JSON.stringify writes them as it finds them.
const OPAQUE_KINDS = new Set(['Any', 'Unknown'])

export function compileProjection (schema: TSchema): Projection {
  const project = new ProjectionCompiler(schema).compile()
  return (value) => project(value, '')
}

/** JSON.stringify's first step for the value at `key`: an object with toJSON() becomes what it returns. */
function toJsonValue (value: unknown, key: string | number): unknown {
  if ((typeof value === 'object' && value !== null) || typeof value === 'function' || typeof value === 'bigint') {
    const toJSON = (value as { toJSON?: unknown }).toJSON
    if (typeof toJSON === 'function') return toJSON.call(value, String(key))
  }
  return value
}

function scalar (value: unknown, key: string | number): unknown {
  value = toJsonValue(value, key)
  // JSON writes NaN and ±Infinity as null: the check sees what the client will read.
  return typeof value === 'number' && !Number.isFinite(value) ? null : value
}

function opaque (value: unknown, key: string | number): unknown {
  value = toJsonValue(value, key)
  return typeof value === 'function' || typeof value === 'symbol' ? undefined : value
}

/** The value JSON.parse reads back: for schemas whose shape only their own check knows. */
function jsonForm (value: unknown): unknown {
  const text = JSON.stringify(value)
  return text === undefined ? undefined : JSON.parse(text)
}

/** `__proto__` would set the prototype rather than a property. */
function setOwn (target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  } else {
    target[key] = value
  }
}

/** Two projections of one value (members of an intersect): what either keeps. */
function merge (a: unknown, b: unknown): unknown {
  if (a === undefined) return b
  if (Array.isArray(a) && Array.isArray(b)) {
    return Array.from({ length: Math.max(a.length, b.length) }, (_, i) => merge(a[i], b[i]))
  }
  if (isRecord(a) && isRecord(b)) {
    const merged: Record<string, unknown> = {}
    for (const key of Object.keys(a)) setOwn(merged, key, a[key])
    for (const key of Object.keys(b)) setOwn(merged, key, merge(Object.hasOwn(merged, key) ? merged[key] : undefined, b[key]))
    return merged
  }
  return a
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

// Inlined at the top of the functions for objects and arrays: the lookup of toJSON stays monomorphic.
const APPLY_TO_JSON = [
  "if (typeof v !== 'object' || v === null) {",
  '  v = toJsonValue(v, k)',
  "  if (typeof v !== 'object' || v === null) return v",
  "} else if (typeof v.toJSON === 'function') {",
  '  v = v.toJSON(String(k))',
  "  if (typeof v !== 'object' || v === null) return v",
  '}'
]

const HELPERS = { toJsonValue, scalar, opaque, jsonForm, setOwn, merge, isRecord, isArray: Array.isArray, keys: Object.keys }

/**
 * Generates one function per schema node, as TypeBox's TypeCompiler does for checks: `p<n>(v, k)`
 * projects the value `v` found at key `k`. Each node is generated once, so `Type.Recursive` and
 * `Type.Module` references become calls.
 */
class ProjectionCompiler {
  private readonly names = new Map<TSchema, string>()
  private readonly functions: string[] = []
  private readonly externals: unknown[] = []
  private readonly ids: Map<string, TSchema>

  constructor (private readonly root: TSchema) {
    this.ids = schemaIds(root)
  }

  compile (): Project {
    const entry = this.nameOf(this.root)
    const externals = this.externals.map((_, i) => `const e${i} = externals[${i}]`)
    const body = [`const { ${Object.keys(HELPERS).join(', ')} } = helpers`, ...externals, ...this.functions, `return ${entry}`].join('\n')
    // eslint-disable-next-line no-new-func -- compiled once per event at registration, like TypeBox's checks
    return new Function('helpers', 'externals', body)(HELPERS, this.externals)
  }

  /** The name of the function that projects a value of `schema`, generated on first use. */
  private nameOf (schema: TSchema): string {
    const kind: string = schema[Kind]
    if (kind === 'This' || kind === 'Ref') return this.nameOf(this.ids.get(schema.$ref) as TSchema)
    if (kind === 'Import') return this.nameOf(schema.$defs[schema.$ref])
    if (SCALAR_KINDS.has(kind) || (kind === 'Union' && schema.anyOf.every((member: TSchema) => SCALAR_KINDS.has(member[Kind])))) return 'scalar'
    if (OPAQUE_KINDS.has(kind)) return 'opaque'
    const known = this.names.get(schema)
    if (known !== undefined) return known
    const name = `p${this.names.size}`
    // Named before its body is generated: a recursive schema calls itself.
    this.names.set(schema, name)
    this.functions.push(`function ${name} (v, k) {\n  ${this.body(kind, schema).join('\n  ')}\n}`)
    return name
  }

  private body (kind: string, schema: TSchema): string[] {
    switch (kind) {
      case 'Object':
      case 'Record':
        return this.object(schema)
      case 'Array':
        return this.array(schema)
      case 'Tuple':
        return this.tuple(schema)
      case 'Union':
        return this.union(schema)
      case 'Intersect':
        return this.intersect(schema)
      default:
        // Not, and custom kinds (TypeRegistry): only their own check knows their shape.
        return ['return jsonForm(v)']
    }
  }

  private external (value: unknown): string {
    this.externals.push(value)
    return `e${this.externals.length - 1}`
  }

  private object (schema: TSchema): string[] {
    const lines = [...APPLY_TO_JSON, 'if (isArray(v)) return v', 'const o = {}', 'let x']
    const declared = Object.keys(schema.properties ?? {})
    for (const key of declared) lines.push(...this.property(JSON.stringify(key), schema.properties[key]))
    const extra = this.extraProperty(schema.patternProperties ?? {}, schema.additionalProperties)
    if (extra !== undefined) {
      lines.push('for (const key of keys(v)) {')
      if (declared.length > 0) lines.push(`  switch (key) { ${declared.map((key) => `case ${JSON.stringify(key)}:`).join(' ')} continue }`)
      lines.push(`  x = ${extra}`, '  if (x !== undefined) setOwn(o, key, x)', '}')
    }
    lines.push('return o')
    return lines
  }

  /** `o[key]` = the projection of `v[key]`, left out when undefined; a string, a boolean or a finite number needs no call. */
  private property (key: string, schema: TSchema): string[] {
    const project = this.nameOf(schema)
    const store = key === '"__proto__"' ? `setOwn(o, ${key}, x)` : `o[${key}] = x`
    return project === 'scalar'
      ? [`x = v[${key}]`, `if (typeof x !== 'string' && typeof x !== 'boolean' && (typeof x !== 'number' || !isFinite(x))) x = scalar(x, ${key})`, `if (x !== undefined) ${store}`]
      : [`x = ${project}(v[${key}], ${key})`, `if (x !== undefined) ${store}`]
  }

  /** The projection of `v[key]` for a key the properties do not name, or undefined to drop it. */
  private extraProperty (patterns: Record<string, TSchema>, additional: unknown): string | undefined {
    // `false`: kept as it is, for the check to refuse, as TypeBox refuses it in the value.
    let otherwise = additional === false
      ? 'v[key]'
      : additional === true
        ? 'opaque(v[key], key)'
        : isRecord(additional) ? `${this.nameOf(additional as TSchema)}(v[key], key)` : undefined
    for (const [pattern, property] of Object.entries(patterns).reverse()) {
      // As TypeBox tests them: Type.Record(Type.String(), ...)'s `^(.*)$` does not match a key with a line break.
      otherwise = `${this.external(new RegExp(pattern))}.test(key) ? ${this.nameOf(property)}(v[key], key) : ${otherwise ?? 'undefined'}`
    }
    return otherwise
  }

  private array (schema: TSchema): string[] {
    return [
      ...APPLY_TO_JSON,
      'if (!isArray(v)) return v',
      'const o = []',
      // JSON writes undefined, functions and holes in an array as null.
      `for (let i = 0; i < v.length; i++) { const x = ${this.nameOf(schema.items)}(v[i], i); o.push(x === undefined ? null : x) }`,
      'return o'
    ]
  }

  private tuple (schema: TSchema): string[] {
    const items: TSchema[] = schema.items ?? []
    // Items past the tuple's length stay, for the check (maxItems) to refuse.
    const item = items.reduceRight((otherwise, element, index) => `i === ${index} ? ${this.nameOf(element)}(v[i], i) : ${otherwise}`, 'opaque(v[i], i)')
    return [
      ...APPLY_TO_JSON,
      'if (!isArray(v)) return v',
      'const o = []',
      `for (let i = 0; i < v.length; i++) { const x = ${item}; o.push(x === undefined ? null : x) }`,
      'return o'
    ]
  }

  /**
   * The first member whose check passes the member's projection. Members the value itself passes
   * are tried first, so a wrong member is rarely projected; then every member, for values whose
   * JSON differs from themselves. None: the value's JSON as it is, for the check to judge.
   */
  private union (schema: TSchema): string[] {
    const members = (schema.anyOf as TSchema[]).map((member) => ({
      project: this.nameOf(member),
      check: this.external(compiledCheck(member, this.ids))
    }))
    return [
      'let q',
      ...members.map(({ project, check }) => `if (${check}(v) && ${check}(q = ${project}(v, k))) return q`),
      ...members.map(({ project, check }) => `if (${check}(q = ${project}(v, k))) return q`),
      'return jsonForm(v)'
    ]
  }

  private intersect (schema: TSchema): string[] {
    const members = (schema.allOf as TSchema[]).map((member) => this.nameOf(member))
    const lines = ['let q', ...members.map((project) => `q = merge(q, ${project}(v, k))`)]
    const extra = this.extraProperty({}, schema.unevaluatedProperties)
    if (extra !== undefined) {
      // The keys no member declares, projected apart and merged: a member may have returned v itself.
      lines.push(
        'v = toJsonValue(v, k)',
        'if (isRecord(q) && isRecord(v)) {',
        '  const extra = {}',
        '  let x',
        `  for (const key of keys(v)) if (!Object.hasOwn(q, key) && (x = ${extra}) !== undefined) setOwn(extra, key, x)`,
        '  q = merge(q, extra)',
        '}'
      )
    }
    lines.push('return q')
    return lines
  }
}

function compiledCheck (schema: TSchema, ids: Map<string, TSchema>): (value: unknown) => boolean {
  const check = TypeCompiler.Compile(thisAsRef(schema) as TSchema, [...ids.values()])
  return (value) => check.Check(value)
}

/** A member of a Type.Recursive union, checked alone: TypeBox compiles `This` only inside its root, `Ref` anywhere. */
function thisAsRef (schema: unknown): unknown {
  if (typeof schema !== 'object' || schema === null) return schema
  if (Array.isArray(schema)) return schema.map(thisAsRef)
  if ((schema as TSchema)[Kind] === 'This') return Type.Ref((schema as TSchema).$ref)
  const copy: Record<string | symbol, unknown> = {}
  for (const key of Reflect.ownKeys(schema)) copy[key] = thisAsRef((schema as Record<string | symbol, unknown>)[key])
  return copy
}
