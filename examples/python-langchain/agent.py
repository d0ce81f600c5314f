"""A LangChain agent (langchain-openai): a tool bound to the model, one tool round trip, then a
streamed answer.

    iron-cage start examples/python-langchain/agent.py --budget 1

`ChatOpenAI()` builds an `openai` client, which reads OPENAI_BASE_URL and OPENAI_API_KEY: iron-cage
sets them to its gateway and a run token, so nothing in this file knows about Iron Cage.
"""

import json

from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI


@tool
def get_weather(city: str) -> dict:
    """The current weather in a city."""
    return {"city": city, "temperature_c": 21, "sky": "clear"}


def main() -> None:
    model = ChatOpenAI(model="gpt-4o-mini")
    with_tools = model.bind_tools([get_weather])
    messages = [HumanMessage("What is the weather in Paris? Use the get_weather tool.")]

    # The model asks for the tool; we run it and hand back its result.
    reply = with_tools.invoke(messages)
    messages.append(reply)
    for call in reply.tool_calls:
        result = get_weather.invoke(call["args"])
        print(f"tool {call['name']}({json.dumps(call['args'])}) -> {json.dumps(result)}", flush=True)
        messages.append(ToolMessage(json.dumps(result), tool_call_id=call["id"]))

    answer = with_tools.invoke(messages)
    print(f"answer: {answer.text}", flush=True)
    messages.append(answer)

    # A streamed answer, printed as it arrives.
    messages.append(HumanMessage("In one sentence: what should I wear there today?"))
    print("streamed: ", end="", flush=True)
    for chunk in model.stream(messages):
        print(chunk.text, end="", flush=True)
    print(flush=True)


if __name__ == "__main__":
    main()
