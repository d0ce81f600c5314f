"""A chat agent on the official `openai` package: one tool round trip, then a streamed answer.

    iron-cage start examples/python-openai/agent.py --budget 1

`OpenAI()` reads OPENAI_BASE_URL and OPENAI_API_KEY, which iron-cage sets to its gateway and a
run token: nothing in this file knows about Iron Cage.
"""

import json

from openai import OpenAI

MODEL = "gpt-4o-mini"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The current weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


def get_weather(city: str) -> dict:
    return {"city": city, "temperature_c": 21, "sky": "clear"}


def main() -> None:
    client = OpenAI()
    messages = [{"role": "user", "content": "What is the weather in Paris? Use the get_weather tool."}]

    # The model asks for the tool; we run it and hand back its result.
    reply = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS).choices[0].message
    messages.append(reply)
    for call in reply.tool_calls or []:
        args = json.loads(call.function.arguments)
        result = get_weather(**args)
        print(f"tool {call.function.name}({json.dumps(args)}) -> {json.dumps(result)}", flush=True)
        messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})

    answer = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS).choices[0].message
    print(f"answer: {answer.content}", flush=True)
    messages.append({"role": "assistant", "content": answer.content})

    # A streamed answer, printed as it arrives.
    messages.append({"role": "user", "content": "In one sentence: what should I wear there today?"})
    print("streamed: ", end="", flush=True)
    for chunk in client.chat.completions.create(model=MODEL, messages=messages, stream=True):
        if chunk.choices:
            print(chunk.choices[0].delta.content or "", end="", flush=True)
    print(flush=True)


if __name__ == "__main__":
    main()
