"""One in-memory OpenTelemetry SDK for every test module in this process.

Global meter and tracer providers can be installed once per process, so the test
modules that read metrics and spans back share this one (:func:`install` is idempotent).
"""

from __future__ import annotations

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

reader = InMemoryMetricReader()
exporter = InMemorySpanExporter()
_installed = False


def install() -> None:
    """Install the in-memory meter and tracer providers (once per process)."""
    global _installed
    if _installed:
        return
    _installed = True
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)


def counters() -> dict[tuple[str, str], int]:
    """``{(metric name, operator attribute): value}`` of every counter so far."""
    found: dict[tuple[str, str], int] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    operator = str((point.attributes or {}).get("operator"))
                    found[(metric.name, operator)] = int(point.value)
    return found
