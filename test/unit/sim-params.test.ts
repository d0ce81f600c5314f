import { describe, expect, it } from 'vitest';
import { anthropicWire } from '../../src/gateway/wire/anthropic/wire.js';
import { openaiWire } from '../../src/gateway/wire/openai/wire.js';

const chat = (extra: Record<string, unknown>) => openaiWire.validate('chat', { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], ...extra });
const messages = (extra: Record<string, unknown>) => anthropicWire.validate('messages', { model: 'claude-3-5-haiku-latest', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }], ...extra });
const fn = (name: string, parameters?: unknown, strict?: boolean) => ({
  type: 'function',
  function: { name, ...(parameters !== undefined ? { parameters } : {}), ...(strict !== undefined ? { strict } : {}) },
});
const weather = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };

describe('the OpenAI wire refuses what OpenAI refuses, in its words', () => {
  it('passes what SDKs send', () => {
    expect(
      chat({
        temperature: 0,
        top_p: 1,
        n: 3,
        logprobs: true,
        top_logprobs: 20,
        tools: [fn('get_weather', weather, true)],
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
        parallel_tool_calls: false,
      }),
    ).toBeNull();
    expect(chat({ response_format: { type: 'json_schema', json_schema: { name: 'answer', strict: true, schema: weather } } })).toBeNull();
    expect(chat({ response_format: { type: 'json_object' }, tool_choice: 'auto' })).toBeNull();
    expect(openaiWire.validate('completions', { model: 'gpt-3.5-turbo-instruct', prompt: 'x', logprobs: 5, temperature: 2 })).toBeNull();
  });

  it.each([
    [{ temperature: 5 }, "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 5 instead."],
    [{ temperature: -0.5 }, "Invalid 'temperature': decimal below minimum value. Expected a value >= 0, but got -0.5 instead."],
    [{ temperature: 'hot' }, "Invalid type for 'temperature': expected a decimal, but got a string instead."],
    [{ top_p: 1.5 }, "Invalid 'top_p': decimal above maximum value. Expected a value <= 1, but got 1.5 instead."],
    [{ presence_penalty: 3 }, "Invalid 'presence_penalty': decimal above maximum value. Expected a value <= 2, but got 3 instead."],
    [{ logprobs: 'yes' }, "Invalid type for 'logprobs': expected a boolean, but got a string instead."],
    [{ logprobs: true, top_logprobs: 21 }, "Invalid 'top_logprobs': integer above maximum value. Expected a value <= 20, but got 21 instead."],
    [{ logprobs: true, top_logprobs: -1 }, "Invalid 'top_logprobs': integer below minimum value. Expected a value >= 0, but got -1 instead."],
    // Every integer's message states its real bound: 0 is a non-negative integer, and still too few choices.
    [{ n: 0 }, "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead."],
    [{ n: 129 }, "Invalid 'n': integer above maximum value. Expected a value <= 128, but got 129 instead."],
    [{ n: 1.5 }, "Invalid type for 'n': expected an integer, but got a number instead."],
    [{ max_tokens: -1 }, "Invalid 'max_tokens': integer below minimum value. Expected a value >= 0, but got -1 instead."],
    [{ max_completion_tokens: 'many' }, "Invalid type for 'max_completion_tokens': expected an integer, but got a string instead."],
    [{ top_logprobs: 2 }, "Invalid value for 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is used."],
    [{ response_format: { type: 'xml' } }, "Invalid value: 'xml'. Supported values are: 'json_object', 'json_schema', and 'text'."],
    [{ response_format: { type: 'json_schema' } }, "Missing required parameter: 'response_format.json_schema'."],
    [{ response_format: { type: 'json_schema', json_schema: { schema: weather } } }, "Missing required parameter: 'response_format.json_schema.name'."],
    [
      { response_format: { type: 'json_schema', json_schema: { name: 'a', schema: { type: 'object', properties: { x: { type: 'str' } } } } } },
      "Invalid schema for response_format 'a': In context=('properties', 'x'), 'type' must be one of 'string', 'number', 'integer', 'boolean', 'object', 'array', 'null'; got \"str\".",
    ],
    [
      { response_format: { type: 'json_schema', json_schema: { name: 'a', strict: true, schema: { type: 'object', properties: { x: { type: 'string' } } } } } },
      "Invalid schema for response_format 'a': In context=(), 'additionalProperties' is required to be supplied and to be false.",
    ],
    [{ tools: [fn('get_weather', { type: 'object', required: 'city' })] }, "Invalid schema for function 'get_weather': In context=(), 'required' must be an array of strings."],
    [{ tools: [fn('get weather', weather)] }, "Invalid 'tools[0].function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'."],
    [{ tools: [{ type: 'function' }] }, "Missing required parameter: 'tools[0].function'."],
    [{ tools: [{ type: 'browser' }] }, "Invalid value: 'browser'. Supported values are: 'function' and 'custom'."],
    [
      { tools: [fn('get_weather', weather)], tool_choice: { type: 'function', function: { name: 'get_time' } } },
      "Invalid value for 'tool_choice': function 'get_time' is not one of the functions in 'tools'.",
    ],
    [{ tool_choice: 'required' }, "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."],
    [{ tools: [fn('a')], tool_choice: 'always' }, "Invalid value: 'always'. Supported values are: 'none', 'auto', and 'required'."],
  ])('%j', (extra, message) => {
    expect(chat(extra)).toBe(message);
  });
});

describe('the Anthropic wire refuses what Anthropic refuses, in its words', () => {
  it('passes what SDKs send', () => {
    expect(
      messages({
        temperature: 1,
        top_p: 0.9,
        top_k: 5,
        tools: [
          { name: 'get_weather', input_schema: weather },
          { type: 'web_search_20250305', name: 'web_search' },
        ],
        tool_choice: { type: 'tool', name: 'get_weather' },
      }),
    ).toBeNull();
    expect(messages({ output_config: { format: { type: 'json_schema', schema: weather } } })).toBeNull();
  });

  it.each([
    [{ temperature: 1.5 }, 'temperature: Input should be less than or equal to 1'],
    [{ temperature: -1 }, 'temperature: Input should be greater than or equal to 0'],
    [{ top_p: 2 }, 'top_p: Input should be less than or equal to 1'],
    [{ max_tokens: 0 }, 'max_tokens: Input should be greater than or equal to 1'],
    [{ max_tokens: 2.5 }, 'max_tokens: Input should be a valid integer, got a number with a fractional part'],
    [{ top_k: -1 }, 'top_k: Input should be greater than or equal to 0'],
    [{ top_k: 'x' }, 'top_k: Input should be a valid integer'],
    [{ n: 2, stream: true }, 'n: Extra inputs are not permitted'],
    [{ response_format: { type: 'json_object' } }, 'response_format: Extra inputs are not permitted'],
    [{ tools: [{ name: 'get_weather' }] }, 'tools.0.custom.input_schema: Field required'],
    [
      { tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'text' } } } }] },
      `tools.0.custom.input_schema: JSON schema is invalid. It must match JSON Schema draft 2020-12 (https://json-schema.org/draft/2020-12). Learn more about tool use at https://docs.anthropic.com/en/docs/tool-use. (In context=('properties', 'city'), 'type' must be one of 'string', 'number', 'integer', 'boolean', 'object', 'array', 'null'; got "text".)`,
    ],
    [{ tools: [{ name: 'get_weather', input_schema: weather }], tool_choice: { type: 'tool', name: 'get_time' } }, "tool_choice.tool.name: Tool 'get_time' was not found in 'tools'."],
    [{ tool_choice: { type: 'any' } }, 'tool_choice may only be specified while providing tools.'],
    [{ tools: [{ name: 'a', input_schema: weather }], tool_choice: { type: 'sometimes' } }, "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'"],
    [
      { output_config: { format: { type: 'json_schema', schema: { type: 'object', required: [1] } } } },
      "output_config.format.schema: JSON schema is invalid. It must match JSON Schema draft 2020-12 (https://json-schema.org/draft/2020-12). (In context=(), 'required' must be an array of strings.)",
    ],
  ])('%j', (extra, message) => {
    expect(messages(extra)).toBe(message);
  });

  it('still wants max_tokens first', () => {
    expect(anthropicWire.validate('messages', { model: 'claude-3-5-haiku-latest', messages: [], temperature: 9 })).toBe('max_tokens: Field required');
  });
});
