// A chat agent on the official `openai` package for Node: one tool round trip, then a streamed answer.
//
//   iron-cage start examples/node-openai/agent.mjs --budget 1
//
// `new OpenAI()` reads OPENAI_BASE_URL and OPENAI_API_KEY, which iron-cage sets to its gateway and
// a run token: nothing in this file knows about Iron Cage.
import OpenAI from 'openai';

const MODEL = 'gpt-4o-mini';
const tools = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'The current weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  },
];
const getWeather = ({ city }) => ({ city, temperature_c: 21, sky: 'clear' });

const client = new OpenAI();
const messages = [{ role: 'user', content: 'What is the weather in Paris? Use the get_weather tool.' }];

// The model asks for the tool; we run it and hand back its result.
const reply = (await client.chat.completions.create({ model: MODEL, messages, tools })).choices[0].message;
messages.push(reply);
for (const call of reply.tool_calls ?? []) {
  const args = JSON.parse(call.function.arguments);
  const result = getWeather(args);
  console.log(`tool ${call.function.name}(${JSON.stringify(args)}) -> ${JSON.stringify(result)}`);
  messages.push({ role: 'tool', tool_call_id: call.id, content: JSON.stringify(result) });
}

const answer = (await client.chat.completions.create({ model: MODEL, messages, tools })).choices[0].message;
console.log(`answer: ${answer.content}`);
messages.push({ role: 'assistant', content: answer.content });

// A streamed answer, written as it arrives.
messages.push({ role: 'user', content: 'In one sentence: what should I wear there today?' });
process.stdout.write('streamed: ');
for await (const chunk of await client.chat.completions.create({ model: MODEL, messages, stream: true })) {
  process.stdout.write(chunk.choices[0]?.delta.content ?? '');
}
process.stdout.write('\n');
