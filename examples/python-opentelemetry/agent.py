"""An agent that traces itself with OpenTelemetry, its spans joined to iron-cage's in one trace.

    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 iron-cage start examples/python-opentelemetry/agent.py --budget 1

iron-cage hands the agent its run's span as TRACEPARENT: the agent's root span is made its child.
Each LLM call carries the current span in a `traceparent` header, so the `chat` span iron-cage
records for it lands under the agent's own span. Both processes export to the same collector
(OTEL_EXPORTER_OTLP_ENDPOINT is still in the agent's environment; the exporter's header variables,
iron-cage's backend key, are not: set the agent's own if its collector needs one).
"""

import os

from openai import OpenAI
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagate import inject
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

MODEL = "gpt-4o-mini"
LEADS = ["Acme Corp, 40 seats, asked for a demo", "Globex, 3 seats, student project"]


def setup_tracing() -> TracerProvider:
    # Our own service name: the agent's spans are told apart from iron-cage's in the trace.
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: "lead-qualifier"}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def chat(client: OpenAI, prompt: str) -> str:
    # The current span's context as a W3C `traceparent` header: iron-cage's span for this call
    # becomes its child.
    headers: dict[str, str] = {}
    inject(headers)
    reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": prompt}], extra_headers=headers)
    return reply.choices[0].message.content or ""


def main() -> None:
    tracer = trace.get_tracer("lead-qualifier")
    client = OpenAI()
    # The run's span iron-cage started for this process (absent when traces are off: a new trace).
    carrier = {"traceparent": os.environ["TRACEPARENT"]} if "TRACEPARENT" in os.environ else {}
    run = TraceContextTextMapPropagator().extract(carrier)

    with tracer.start_as_current_span("triage leads", context=run) as root:
        root.set_attribute("lead.count", len(LEADS))
        verdicts = []
        for lead in LEADS:
            with tracer.start_as_current_span("qualify lead") as span:
                span.set_attribute("lead.name", lead.split(",")[0])
                verdict = chat(client, f"Qualify this sales lead as hot, warm or cold, in one line: {lead}")
                print(f"lead: {lead} -> {verdict}", flush=True)
                verdicts.append(verdict)
        # A call made in the root span: its chat span is the root's child.
        summary = chat(client, "Summarise for the sales team in one sentence:\n" + "\n".join(verdicts))
        print(f"summary: {summary}", flush=True)


if __name__ == "__main__":
    provider = setup_tracing()
    try:
        main()
    finally:
        provider.shutdown()  # exports the spans still batched before the process exits
