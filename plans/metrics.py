"""`plan_active_total{org_id}` (DESIGN 7): counted in the database when /metrics is scraped."""

from __future__ import annotations

from collections.abc import Iterator

from django.db import DatabaseError
from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from plans.models import LivePlan


class ActivePlansCollector(Collector):
    """`plan_active_total{org_id}`: plans not archived, counted in the database when scraped."""

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Registration asks for the metric names; answer without touching the database.
        yield GaugeMetricFamily("plan_active_total", "Plans not archived, per org.", labels=["org_id"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
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
