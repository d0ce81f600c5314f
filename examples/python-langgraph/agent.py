"""A LangGraph agent: a two-node graph (model → tools → model …) that calls a tool until it can
answer, its answer streamed token by token.

    iron-cage start examples/python-langgraph/agent.py --budget 1

`ChatOpenAI()` builds an `openai` client, which reads OPENAI_BASE_URL and OPENAI_API_KEY: iron-cage
sets them to its gateway and a run token, so nothing in this file knows about Iron Cage.
"""

from langchain_core.messages import AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition


@tool
def get_weather(city: str) -> dict:
    """The current weather in a city."""
    return {"city": city, "temperature_c": 21, "sky": "clear"}


TOOLS = [get_weather]
model = ChatOpenAI(model="gpt-4o-mini").bind_tools(TOOLS)


def call_model(state: MessagesState) -> dict:
    return {"messages": [model.invoke(state["messages"])]}


def build_graph():
    graph = StateGraph(MessagesState)
    graph.add_node("model", call_model)
    graph.add_node("tools", ToolNode(TOOLS))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)  # a tool call goes to "tools", else the end
    graph.add_edge("tools", "model")
    return graph.compile()


def main() -> None:
    agent = build_graph()
    question = {"messages": [HumanMessage("What is the weather in Paris? Use the get_weather tool.")]}
    print("answer: ", end="", flush=True)
    # stream_mode="messages": the model's tokens as they arrive, and each tool's result.
    for message, meta in agent.stream(question, stream_mode="messages", config={"recursion_limit": 6}):
        if isinstance(message, ToolMessage):
            print(f"\ntool {message.name} -> {message.content}", flush=True)
        elif isinstance(message, AIMessageChunk) and meta.get("langgraph_node") == "model":
            for call in message.tool_call_chunks:
                if call.get("name"):
                    print(f"\ncalling {call['name']}", flush=True)
            print(message.text, end="", flush=True)
    print(flush=True)


if __name__ == "__main__":
    main()
