"""The product's own Prometheus metrics (DESIGN 7), next to django-prometheus' request metrics.

Counters and histograms work across several server processes when PROMETHEUS_MULTIPROC_DIR is set
(prometheus_client's multiprocess mode). Gauges that apps read from the database at scrape time
(`plan_active_total`, plans.metrics) are right whichever process serves /metrics and after restarts.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

from aep.middleware import metrics_access_allowed

STEP_LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.2, 0.5, 0.8)

plan_events_total = Counter(
    "plan_events_total", "Plan events by type (PLAN_START, PLAN_STEP, PLAN_ARCHIVE).", ["event", "org_id"]
)
plan_step_latency = Histogram(
    "plan_step_latency",
    "Seconds to add a step (validation, write, audit, commit).",
    ["org_id"],
    buckets=STEP_LATENCY_BUCKETS,
)


_database_collectors: list[Collector] = []


def register_database_collector(collector: Collector) -> None:
    """A collector that reads the database when scraped (apps register theirs when ready): served
    by /metrics in multiprocess mode too, where the default registry is not."""
    _database_collectors.append(collector)
    if not settings.PROMETHEUS_MULTIPROC_DIR:
        REGISTRY.register(collector)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Serve /metrics: every process' counters in multiprocess mode, plus the database-backed gauge."""
    if not metrics_access_allowed(request):
        return HttpResponse("Forbidden: /metrics is for allow-listed scrapers.\n", status=403)
    if settings.PROMETHEUS_MULTIPROC_DIR:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        for collector in _database_collectors:
            registry.register(collector)
    else:
        registry = REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


plan_streams_open = Gauge("plan_streams_open", "Live plan streams open now.", multiprocess_mode="livesum")
plan_stream_events_sent = Counter(
    "plan_stream_events_sent", "Events delivered to open plan streams (one per stream per event)."
)
