import { describe, expect, it } from 'vitest';
import { schemaDetail, schemaProblem } from '../../src/gateway/wire/schema.js';

const fn = "function 'get_weather'";

describe('schemaProblem: what the providers accept as a tool or output schema', () => {
  it('accepts the schemas SDKs send: nested objects, arrays, enums, anyOf, $ref/$defs, booleans', () => {
    const schema = {
      type: 'object',
      properties: {
        city: { type: 'string', minLength: 1 },
        unit: { type: 'string', enum: ['c', 'f'] },
        days: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 7 } },
        at: { anyOf: [{ type: 'string', format: 'date' }, { type: 'null' }] },
        place: { $ref: '#/$defs/place' },
        old: { $ref: '#/definitions/old' },
        any: {},
        never: false,
      },
      required: ['city'],
      additionalProperties: false,
      $defs: { place: { type: 'object', properties: { lat: { type: 'number' } } } },
      definitions: { old: { const: 1 } },
    };
    expect(schemaProblem(schema, fn)).toBeNull();
    expect(schemaProblem({}, fn)).toBeNull();
    expect(schemaProblem({ type: 'object' }, fn)).toBeNull();
  });

  it('names the place and the keyword of the first problem', () => {
    const cases: Array<[unknown, string]> = [
      [null, "Invalid schema for function 'get_weather': In context=(), schema must be a JSON Schema of 'type: \"object\"', got null."],
      [{ type: 'string' }, `Invalid schema for function 'get_weather': schema must be a JSON Schema of 'type: "object"', got 'type: "string"'.`],
      [
        { type: 'object', properties: { n: { type: 'int' } } },
        "Invalid schema for function 'get_weather': In context=('properties', 'n'), 'type' must be one of 'string', 'number', 'integer', 'boolean', 'object', 'array', 'null'; got \"int\".",
      ],
      [{ type: 'object', required: 'city' }, "Invalid schema for function 'get_weather': In context=(), 'required' must be an array of strings."],
      [{ type: 'object', properties: {}, required: ['city'] }, "Invalid schema for function 'get_weather': In context=(), 'required' names 'city', which is not in 'properties'."],
      [{ type: 'object', properties: [] }, "Invalid schema for function 'get_weather': In context=(), 'properties' must be an object mapping names to schemas; got array."],
      [
        { type: 'object', properties: { a: { type: 'array', items: [{ type: 'string' }] } } },
        "Invalid schema for function 'get_weather': In context=('properties', 'a'), 'items' must be a schema (an object); for tuples use 'prefixItems'.",
      ],
      [{ type: 'object', properties: { a: { enum: [] } } }, "Invalid schema for function 'get_weather': In context=('properties', 'a'), 'enum' must be a non-empty array."],
      [
        { type: 'object', properties: { a: { $ref: '#/$defs/nope' } } },
        "Invalid schema for function 'get_weather': In context=('properties', 'a'), reference to '#/$defs/nope' which was not found in the schema.",
      ],
      [{ type: 'object', properties: { a: 'string' } }, "Invalid schema for function 'get_weather': In context=('properties', 'a'), schema must be an object or a boolean; got string."],
      [
        { type: 'object', properties: { a: { type: 'string', pattern: '(' } } },
        "Invalid schema for function 'get_weather': In context=('properties', 'a'), 'pattern' is not a valid regular expression: \"(\".",
      ],
      [
        { type: 'object', properties: { a: { type: 'string', minLength: -1 } } },
        "Invalid schema for function 'get_weather': In context=('properties', 'a'), 'minLength' must be a non-negative integer.",
      ],
      [{ type: 'object', $defs: { x: { anyOf: [] } } }, "Invalid schema for function 'get_weather': In context=('$defs', 'x'), 'anyOf' must be a non-empty array of schemas."],
    ];
    for (const [schema, message] of cases) expect(schemaProblem(schema, fn)).toBe(message);
  });

  it('applies OpenAI strict mode only when asked: closed objects, every key required', () => {
    const open = { type: 'object', properties: { a: { type: 'string' }, b: { type: 'number' } }, required: ['a'] };
    expect(schemaProblem(open, fn)).toBeNull();
    expect(schemaDetail(open, { strict: true })).toBe("In context=(), 'additionalProperties' is required to be supplied and to be false.");
    expect(schemaDetail({ ...open, additionalProperties: false }, { strict: true })).toBe(
      "In context=(), 'required' is required to be supplied and to be an array including every key in properties. Missing 'b'.",
    );
    expect(schemaDetail({ ...open, additionalProperties: false, required: ['a', 'b'] }, { strict: true })).toBeNull();
  });

  it('refuses a schema nested 100k deep without overflowing the stack', () => {
    let deep: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 100_000; i++) deep = { type: 'object', properties: { x: deep } };
    const parsed = JSON.parse(`${'{"type":"object","properties":{"x":'.repeat(100_000)}{}${'}}'.repeat(100_000)}`);
    for (const s of [deep, parsed]) expect(schemaProblem(s, fn)).toMatch(/nested deeper than 64 levels/);
  });
});

describe('strict mode and what SDKs generate', () => {
  it('accepts zod 4 schemas as the openai and AI SDKs send them, and a closed object with no properties', async () => {
    const { z } = await import('zod');
    const schema = z.toJSONSchema(z.object({ name: z.string(), tags: z.array(z.enum(['a', 'b'])), nested: z.object({ n: z.number().nullable() }) }));
    expect(schemaProblem(schema, "response_format 'x'", { strict: true })).toBeNull();
    expect(schemaProblem({ type: 'object', properties: {}, additionalProperties: false }, "function 'noop'", { strict: true })).toBeNull();
    const optional = z.toJSONSchema(z.object({ name: z.string(), nick: z.string().optional() }));
    expect(schemaProblem(optional, "response_format 'x'", { strict: true })).toMatch(/Missing 'nick'/);
  });
});
