import { test } from 'tap'
import { Type, type TSchema } from '@sinclair/typebox'
import { refuseNonJsonKinds } from '../../lib/wire-schema'

const refusal = (schema: TSchema): string | undefined => {
  try {
    refuseNonJsonKinds('events.e', schema)
    return undefined
  } catch (err) {
    return (err as Error).message
  }
}

test('finds a kind JSON cannot carry under every keyword that nests a schema', async (t) => {
  const date = Type.Date()
  const cases: Array<[TSchema, string]> = [
    [Type.Object({ a: Type.Object({ b: date }) }), '/a/b'],
    [Type.Object({}, { patternProperties: { '^x-': date } }), '/*'],
    [Type.Intersect([Type.Object({})], { unevaluatedProperties: date }), '/*'],
    [Type.Array(Type.String(), { contains: date }), '/*'],
    [Type.Unsafe({ type: 'array', items: [Type.String()], additionalItems: date }), '/*'],
    [Type.Unsafe({ oneOf: [Type.String(), date] }), '/'],
    [Type.Tuple([Type.String(), Type.Array(date)]), '/1/*']
  ]
  for (const [schema, path] of cases) t.match(refusal(schema), `declares Type.Date() at ${path}, which JSON cannot carry`, path)
})

test('JSON kinds, booleans for additionalProperties and Type.Not pass', async (t) => {
  t.equal(refusal(Type.Object({ a: Type.String(), n: Type.Optional(Type.Number()), x: Type.Not(Type.Uint8Array()) }, { additionalProperties: false })), undefined)
  t.equal(refusal(Type.Tuple([])), undefined)
  t.equal(refusal(Type.Tuple([Type.String(), Type.Object({ n: Type.Number() })])), undefined)
  t.equal(refusal(Type.Record(Type.String(), Type.Array(Type.Union([Type.Null(), Type.Literal(1)])))), undefined)
})
