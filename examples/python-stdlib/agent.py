"""A chat agent on the standard library alone (urllib + json): one tool round trip, then a
streamed answer, with its progress on the Iron Cage dashboard.

    iron-cage start examples/python-stdlib/agent.py --budget 1

Under iron-cage, OPENAI_BASE_URL points at its gateway and OPENAI_API_KEY is a run token: the
gateway meters every call and answers from the simulated provider when no real key is set.
"""

import json
import os
import urllib.request

import iron_cage

BASE_URL = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1")
API_KEY = os.environ["OPENAI_API_KEY"]
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


def post(body: dict):
    request = urllib.request.Request(
        BASE_URL + "/chat/completions",
        data=json.dumps({"model": MODEL, **body}).encode(),
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
    )
    return urllib.request.urlopen(request, timeout=120)


def chat(messages: list, **extra) -> dict:
    with post({"messages": messages, **extra}) as response:
        return json.load(response)["choices"][0]["message"]


def stream(messages: list):
    """Yield the answer's text as it arrives (server-sent events, one `data:` line each)."""
    with post({"messages": messages, "stream": True}) as response:
        for raw in response:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            for choice in json.loads(line[len("data: "):]).get("choices", []):
                yield choice["delta"].get("content") or ""


def main() -> None:
    with iron_cage.AgentRuntime(name="python-stdlib") as rt:
        steps = 3
        messages = [{"role": "user", "content": "What is the weather in Paris? Use the get_weather tool."}]

        # 1. The model asks for the tool; we run it and hand back its result.
        reply = chat(messages, tools=TOOLS)
        messages.append(reply)
        for call in reply.get("tool_calls") or []:
            args = json.loads(call["function"]["arguments"])
            result = get_weather(**args)
            print(f"tool {call['function']['name']}({json.dumps(args)}) -> {json.dumps(result)}", flush=True)
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result)})
        rt.report_progress(1, steps, unit="steps")

        # 2. The model answers from the tool's result.
        answer = chat(messages, tools=TOOLS)
        print(f"answer: {answer['content']}", flush=True)
        messages.append(answer)
        rt.report_progress(2, steps, unit="steps")

        # 3. A streamed answer, printed as it arrives.
        messages.append({"role": "user", "content": "In one sentence: what should I wear there today?"})
        print("streamed: ", end="", flush=True)
        for piece in stream(messages):
            print(piece, end="", flush=True)
        print(flush=True)
        rt.report_progress(3, steps, unit="steps")


if __name__ == "__main__":
    main()
