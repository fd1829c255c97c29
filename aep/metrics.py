"""The product's own Prometheus metrics (DESIGN 7), next to django-prometheus' request metrics.

Counters and histograms work across several server processes when PROMETHEUS_MULTIPROC_DIR is set
(prometheus_client's multiprocess mode). `plan_active_total` is not kept in memory at all: it is read
from the database at scrape time, so it is right whichever process serves /metrics and after restarts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from django.db import DatabaseError
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
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

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


class ActivePlansCollector(Collector):
    """`plan_active_total{org_id}`: plans not archived, counted in the database when scraped."""

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Registration asks for the metric names; answer without touching the database.
        yield GaugeMetricFamily("plan_active_total", "Plans not archived, per org.", labels=["org_id"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db.models import Count

        from plans.models import LivePlan

        family = GaugeMetricFamily("plan_active_total", "Plans not archived, per org.", labels=["org_id"])
        try:
            rows = (
                LivePlan.objects.filter(archived=False)
                .values("org_id")
                .annotate(n=Count("id"))
                .order_by("org_id")
            )
            for row in rows:
                family.add_metric([row["org_id"]], row["n"])
        except DatabaseError:
            pass  # a scrape must not fail because the database is away; the gauge is just absent
        yield family


active_plans_collector = ActivePlansCollector()
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    REGISTRY.register(active_plans_collector)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Serve /metrics: every process' counters in multiprocess mode, plus the database-backed gauge."""
    from aep.middleware import metrics_access_allowed

    if not metrics_access_allowed(request):
        return HttpResponse("Forbidden: /metrics is for allow-listed scrapers.\n", status=403)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(active_plans_collector)
    else:
        registry = REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


plan_streams_open = Gauge("plan_streams_open", "Live plan streams open now.", multiprocess_mode="livesum")
plan_stream_events_sent = Counter(
    "plan_stream_events_sent", "Events delivered to open plan streams (one per stream per event)."
)
