// A LangChain.js agent (`@langchain/openai`): a tool bound to the model, one tool round trip, then
// a streamed answer.
//
//   iron-cage start examples/node-langchain/agent.mjs --budget 1
//
// `new ChatOpenAI()` builds an `openai` client, which reads OPENAI_BASE_URL and OPENAI_API_KEY:
// iron-cage sets them to its gateway and a run token, so nothing here knows about Iron Cage.
import { HumanMessage, ToolMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { ChatOpenAI } from '@langchain/openai';
import { z } from 'zod';

const getWeather = tool(async ({ city }) => JSON.stringify({ city, temperature_c: 21, sky: 'clear' }), {
  name: 'get_weather',
  description: 'The current weather in a city',
  schema: z.object({ city: z.string() }),
});

const model = new ChatOpenAI({ model: 'gpt-4o-mini' });
const withTools = model.bindTools([getWeather]);
const messages = [new HumanMessage('What is the weather in Paris? Use the get_weather tool.')];

// The model asks for the tool; we run it and hand back its result.
const reply = await withTools.invoke(messages);
messages.push(reply);
for (const call of reply.tool_calls ?? []) {
  const result = await getWeather.invoke(call.args);
  console.log(`tool ${call.name}(${JSON.stringify(call.args)}) -> ${result}`);
  messages.push(new ToolMessage({ content: result, tool_call_id: call.id }));
}

const answer = await withTools.invoke(messages);
console.log(`answer: ${answer.text}`);
messages.push(answer);

// A streamed answer, written as it arrives.
messages.push(new HumanMessage('In one sentence: what should I wear there today?'));
process.stdout.write('streamed: ');
for await (const chunk of await model.stream(messages)) process.stdout.write(chunk.text);
process.stdout.write('\n');
