"""A chat agent on the official `anthropic` package: one tool round trip, then a streamed answer.

    iron-cage start examples/python-anthropic/agent.py --budget 1

`Anthropic()` reads ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY, which iron-cage sets to its
gateway and a run token: nothing in this file knows about Iron Cage.
"""

import json

from anthropic import Anthropic

MODEL = "claude-haiku-4-5"
TOOLS = [
    {
        "name": "get_weather",
        "description": "The current weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]


def get_weather(city: str) -> dict:
    return {"city": city, "temperature_c": 21, "sky": "clear"}


def main() -> None:
    client = Anthropic()
    messages = [{"role": "user", "content": "What is the weather in Paris? Use the get_weather tool."}]

    # The model asks for the tool; we run it and hand back its result.
    reply = client.messages.create(model=MODEL, max_tokens=512, messages=messages, tools=TOOLS)
    messages.append({"role": "assistant", "content": reply.content})
    results = []
    for block in reply.content:
        if block.type == "tool_use":
            result = get_weather(**block.input)
            print(f"tool {block.name}({json.dumps(block.input)}) -> {json.dumps(result)}", flush=True)
            results.append({"type": "tool_result", "tool_use_id": block.id, "content": json.dumps(result)})
    if results:
        messages.append({"role": "user", "content": results})

    answer = client.messages.create(model=MODEL, max_tokens=512, messages=messages, tools=TOOLS)
    text = "".join(block.text for block in answer.content if block.type == "text")
    print(f"answer: {text}", flush=True)
    messages.append({"role": "assistant", "content": text})

    # A streamed answer, printed as it arrives.
    messages.append({"role": "user", "content": "In one sentence: what should I wear there today?"})
    print("streamed: ", end="", flush=True)
    with client.messages.stream(model=MODEL, max_tokens=512, messages=messages) as stream:
        for piece in stream.text_stream:
            print(piece, end="", flush=True)
    print(flush=True)


if __name__ == "__main__":
    main()
