import { test } from 'tap'
import { Kind, Type, TypeRegistry, type TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { compileProjection } from '../../lib/wire-projection'

const project = (schema: TSchema, value: unknown): unknown => compileProjection(schema)(value)
/** The key order of every object in `value`, which t.same does not compare. */
const json = (schema: TSchema, value: unknown): string | undefined => JSON.stringify(project(schema, value))

test('an object keeps the properties its schema declares, in the schema order, nested too', async (t) => {
  const schema = Type.Object({
    id: Type.String(),
    user: Type.Object({ name: Type.String(), tags: Type.Array(Type.Object({ label: Type.String() })) }),
    pair: Type.Tuple([Type.Object({ a: Type.Number() }), Type.Boolean()]),
    note: Type.Optional(Type.String())
  })
  const value = {
    admin: true,
    pair: [{ a: 1, b: 2 }, false],
    user: { password: 'x', tags: [{ label: 'l', color: 'red' }], name: 'Ada' },
    id: 'u1'
  }
  t.equal(json(schema, value), '{"id":"u1","user":{"name":"Ada","tags":[{"label":"l"}]},"pair":[{"a":1},false]}')
  t.same(value.user, { password: 'x', tags: [{ label: 'l', color: 'red' }], name: 'Ada' }, 'the value itself is left alone')
  t.equal(json(Type.Object({}), { a: 1 }), '{}')
})

test('each value is what JSON.stringify sees: toJSON() with its key, NaN as null, undefined left out', async (t) => {
  const keys: string[] = []
  const stamp = { toJSON (key: string) { keys.push(key); return `stamp:${key}` } }
  const schema = Type.Object({
    at: Type.String(),
    list: Type.Array(Type.Union([Type.String(), Type.Null()])),
    n: Type.Union([Type.Number(), Type.Null()]),
    inf: Type.Number(),
    gone: Type.Optional(Type.String()),
    inner: Type.Object({ when: Type.String() })
  })
  // eslint-disable-next-line no-sparse-arrays
  const list = ['a', , undefined, stamp, () => 1]
  const value = { at: new Date(0), list, n: NaN, inf: -Infinity, gone: undefined, inner: { toJSON: () => ({ when: stamp, extra: 1 }) } }
  t.equal(json(schema, value), '{"at":"1970-01-01T00:00:00.000Z","list":["a",null,null,"stamp:3",null],"n":null,"inf":null,"inner":{"when":"stamp:when"}}')
  t.same(keys, ['3', 'when'], 'toJSON gets the key, as from JSON.stringify')
  t.equal(project(Type.Object({ a: Type.String() }), { toJSON: () => 'flat' }), 'flat', 'a toJSON() may return a scalar')
  t.equal(project(Type.Array(Type.String()), { toJSON: () => null }), null)
  t.equal(project(Type.Number(), 10n), 10n, 'a bigint is left for the check to refuse')
  const withToJson = Object.assign(() => {}, { toJSON: () => ({ a: 'from a function', b: 1 }) })
  t.same(project(Type.Object({ a: Type.String() }), withToJson), { a: 'from a function' })
})

test('Any and Unknown keep the value as it is; a function or symbol there is left out like JSON does', async (t) => {
  const schema = Type.Object({ meta: Type.Any(), more: Type.Unknown(), fn: Type.Any(), sym: Type.Unknown(), list: Type.Array(Type.Any()) })
  const meta = { deep: { everything: true }, at: new Date(0) }
  const projected = project(schema, { meta, more: [1, { x: 2 }], fn: () => 1, sym: Symbol('s'), list: [() => 1, 2] }) as Record<string, unknown>
  t.equal(projected.meta, meta)
  t.same(projected, { meta, more: [1, { x: 2 }], list: [null, 2] })
  t.notOk('fn' in projected || 'sym' in projected)
})

test('records and additionalProperties', async (t) => {
  const counts = Type.Record(Type.String(), Type.Object({ n: Type.Number() }))
  t.equal(json(counts, { a: { n: 1, x: 0 }, b: { n: 2 }, 'line\nbreak': { n: 3 } }), '{"a":{"n":1},"b":{"n":2}}', 'a key the pattern does not match is undeclared')
  const prefixed = Type.Object({ id: Type.String() }, { patternProperties: { '^x-': Type.Object({ v: Type.Number() }) } })
  t.equal(json(prefixed, { id: 'i', 'x-a': { v: 1, w: 2 }, other: 3 }), '{"id":"i","x-a":{"v":1}}')
  const typedRest = Type.Object({ id: Type.String() }, { additionalProperties: Type.Object({ v: Type.Number() }) })
  t.equal(json(typedRest, { id: 'i', more: { v: 1, w: 2 } }), '{"id":"i","more":{"v":1}}')
  const anyRest = Type.Object({ id: Type.String() }, { additionalProperties: true })
  t.equal(json(anyRest, { id: 'i', more: { w: 2 }, fn: () => 1 }), '{"id":"i","more":{"w":2}}')
  const closed = Type.Object({ id: Type.String() }, { additionalProperties: false })
  t.same(project(closed, { id: 'i', leaked: 1, gone: undefined }), { id: 'i', leaked: 1 }, 'kept for the check to refuse')
  const both = Type.Object({}, { patternProperties: { '^n-': Type.Number() }, additionalProperties: Type.Object({ s: Type.String() }) })
  t.same(project(both, { 'n-1': 1, z: { s: 's', t: 't' } }), { 'n-1': 1, z: { s: 's' } })
})

test('a union takes the member whose check passes its projection', async (t) => {
  const A = Type.Object({ kind: Type.Literal('a'), a: Type.Number() })
  const B = Type.Object({ kind: Type.Literal('b'), b: Type.String() })
  const schema = Type.Union([A, B, Type.Array(A), Type.Null()])
  t.equal(json(schema, { kind: 'b', b: 'x', a: 1, secret: 1 }), '{"kind":"b","b":"x"}')
  t.equal(json(schema, [{ kind: 'a', a: 1, b: 'x' }]), '[{"kind":"a","a":1}]')
  t.equal(project(schema, null), null)
  const when = Type.Union([Type.Object({ at: Type.String() }), Type.Object({ at: Type.Number(), zone: Type.String() })])
  t.equal(json(when, { at: new Date(0), zone: 'UTC' }), '{"at":"1970-01-01T00:00:00.000Z"}', 'a member only the JSON form matches')
  t.same(project(schema, { kind: 'c', when: new Date(0) }), { kind: 'c', when: '1970-01-01T00:00:00.000Z' }, 'no member: the JSON form, for the check to refuse')
  t.equal(project(Type.Union([Type.Literal('x'), Type.Null()]), { toJSON: () => 'x' }), 'x', 'a union of scalars needs no check')
})

test('an intersect keeps what any member declares', async (t) => {
  const schema = Type.Intersect([
    Type.Object({ id: Type.String(), tags: Type.Array(Type.Object({ a: Type.Number() })) }),
    Type.Object({ n: Type.Number(), tags: Type.Array(Type.Object({ b: Type.Number() })) }),
    Type.Union([Type.Object({ kind: Type.Literal('x') }), Type.Object({ kind: Type.Literal('y'), y: Type.Number() })])
  ])
  t.equal(json(schema, { id: 'i', n: 1, kind: 'y', y: 2, z: 3, tags: [{ a: 1, b: 2, c: 3 }] }), '{"id":"i","tags":[{"a":1,"b":2}],"n":1,"kind":"y","y":2}')
  const closed = Type.Intersect([Type.Object({ a: Type.String() }), Type.Object({ b: Type.Number() })], { unevaluatedProperties: false })
  t.same(project(closed, { a: 'x', b: 1, c: 2 }), { a: 'x', b: 1, c: 2 }, 'kept for the check to refuse')
  t.same(project(closed, { a: 'x', b: 1 }), { a: 'x', b: 1 })
  const typedRest = Type.Intersect([Type.Object({ a: Type.String() }), Type.Object({})], { unevaluatedProperties: Type.Object({ v: Type.Number() }) })
  t.equal(json(typedRest, { a: 'x', more: { v: 1, w: 2 } }), '{"a":"x","more":{"v":1}}')
  const value = { a: 'x', more: { v: 1 } }
  t.equal(project(Type.Intersect([Type.Any(), Type.Object({ a: Type.String() })], { unevaluatedProperties: false }), value) === value, false, 'never the value itself')
  t.equal(project(closed, 'text'), 'text', 'a value of the wrong kind is left for the check to refuse')
  t.equal(project(Type.Intersect([Type.String(), Type.String({ minLength: 1 })]), 's'), 's')
  t.same(project(Type.Intersect([Type.Array(Type.Object({ a: Type.Number() })), Type.Array(Type.Object({ b: Type.Number() }), { minItems: 1 })]), [{ a: 1, b: 2, c: 3 }]), [{ a: 1, b: 2 }])
})

test('Type.Recursive and Type.Module references project their target', async (t) => {
  const tree = Type.Recursive((This) => Type.Object({ id: Type.String(), nodes: Type.Array(This) }))
  t.equal(json(tree, { id: 'r', x: 1, nodes: [{ id: 'c', y: 2, nodes: [] }] }), '{"id":"r","nodes":[{"id":"c","nodes":[]}]}')
  const choice = Type.Recursive((This) => Type.Union([Type.Object({ leaf: Type.String() }), Type.Object({ all: Type.Array(This) })]))
  t.equal(json(choice, { all: [{ leaf: 'a', x: 1 }, { all: [] }], y: 2 }), '{"all":[{"leaf":"a"},{"all":[]}]}')
  const module = Type.Module({ A: Type.Object({ x: Type.String() }), B: Type.Object({ a: Type.Ref('A'), list: Type.Array(Type.Ref('B')) }) })
  t.equal(json(module.Import('B'), { a: { x: 's', q: 1 }, list: [{ a: { x: 't', w: 2 }, list: [], z: 3 }] }), '{"a":{"x":"s"},"list":[{"a":{"x":"t"},"list":[]}]}')
  // Untyped: TypeScript cannot infer a recursive union in a module.
  const untypedModule = Type.Module as unknown as (definitions: Record<string, TSchema>) => { Import (key: string): TSchema }
  const choices = untypedModule({ A: Type.Object({ x: Type.String() }), C: Type.Union([Type.Ref('A'), Type.Array(Type.Ref('C'))]) })
  t.equal(json(choices.Import('C'), [{ x: 's', y: 1 }, [{ x: 't', z: 2 }]]), '[{"x":"s"},[{"x":"t"}]]')
})

test('Type.Not and custom kinds, whose shape only their check knows, get the JSON form', async (t) => {
  t.same(project(Type.Object({ n: Type.Not(Type.String()) }), { n: { at: new Date(0), f: () => 1 } }), { n: { at: '1970-01-01T00:00:00.000Z' } })
  TypeRegistry.Set('WireTestEven', (_schema, value) => typeof value === 'number' && value % 2 === 0)
  t.teardown(() => TypeRegistry.Delete('WireTestEven'))
  const even = { [Kind]: 'WireTestEven' } as unknown as TSchema
  t.same(project(Type.Object({ e: even, gone: even }), { e: { toJSON: () => 4 }, gone: () => 1 }), { e: 4 })
})

test('__proto__ keys become own properties, never the prototype', async (t) => {
  const schema = Type.Object({ ['__proto__']: Type.Number(), rest: Type.Record(Type.String(), Type.Number()) })
  const projected = project(schema, JSON.parse('{"__proto__": 1, "rest": {"__proto__": 2}}')) as Record<string, Record<string, unknown>>
  t.equal(JSON.stringify(projected), '{"__proto__":1,"rest":{"__proto__":2}}')
  t.equal(Object.getPrototypeOf(projected.rest), Object.prototype)
  const merged = project(Type.Intersect([Type.Object({ ['__proto__']: Type.Number() }), Type.Object({ b: Type.Number() })]), JSON.parse('{"__proto__": 1, "b": 2}'))
  t.equal(JSON.stringify(merged), '{"__proto__":1,"b":2}')
})

test('a value of the wrong kind is left as it is, for the check to refuse', async (t) => {
  const schema = Type.Object({ o: Type.Object({ a: Type.String() }), l: Type.Array(Type.String()), t: Type.Tuple([Type.String()]) })
  t.same(project(schema, { o: ['x'], l: { 0: 'x' }, t: 'x' }), { o: ['x'], l: { 0: 'x' }, t: 'x' })
  t.equal(project(schema, 'text'), 'text')
  t.equal(project(schema, undefined), undefined)
  t.same(project(Type.Tuple([Type.String()]), ['a', 'b', () => 1]), ['a', 'b', null], 'items past a tuple stay for maxItems')
  t.same(project(Type.Tuple([]), [{ a: 1 }]), [{ a: 1 }])
})

test('whatever passes the check reads back from JSON exactly as it was checked', async (t) => {
  const schema = Type.Object({
    n: Type.Number(),
    s: Type.Optional(Type.String()),
    list: Type.Array(Type.Union([Type.Object({ a: Type.Integer() }), Type.Null()])),
    map: Type.Record(Type.String(), Type.Boolean()),
    any: Type.Optional(Type.Any())
  })
  const check = TypeCompiler.Compile(schema)
  const values = [
    { n: 1, list: [], map: {} },
    { n: NaN, list: [], map: {} },
    { n: 1, s: { toJSON: () => 'via toJSON' }, list: [{ a: 1, b: 2 }, undefined], map: { x: true, y: { toJSON: () => false } }, any: { d: [0] } },
    { n: 1, list: [{ a: { toJSON: () => 'not an integer' } }], map: {} },
    { n: 1, list: [], map: { x: 'no' }, extra: { lots: 'of data' } },
    { toJSON: () => ({ n: 2, list: [null], map: {}, secret: 1 }) }
  ]
  for (const value of values) {
    const projected = project(schema, value)
    if (!check.Check(projected)) continue
    const wire = JSON.stringify(projected)
    t.same(JSON.parse(wire), projected, wire)
    t.ok(check.Check(JSON.parse(wire)), wire)
    t.notMatch(wire, /extra|secret|"b"/)
  }
})
