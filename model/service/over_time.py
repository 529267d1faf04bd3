"""Segments over time as the service answers them: the counts from
`model.versions.over_time`, with the flows and trend charts drawn beside the versions."""

from __future__ import annotations

import dataclasses

from model import imports
from model.answers import Flows, Trend
from model.versions.over_time import FindSegment, SegmentsOverTime
from model.versions.registry import Registry


class OverTime:
    def __init__(self, registry: Registry, find_segment: FindSegment):
        self.registry = registry
        self.segments = SegmentsOverTime(registry, find_segment)

    def flows(self, version: str | None = None) -> Flows:
        """The flows of a version (the served one by default) with their chart."""
        flows = self.segments.flows(version)  # first: a first version has none (NotFound)
        flows_png = imports.load("model.charts.over_time_charts").flows_png  # matplotlib: ~0.5 s
        path = flows_png(flows, self.registry.path(flows.version))
        return dataclasses.replace(flows, chart=str(path))

    def trend(self) -> Trend:
        trend_png = imports.load("model.charts.over_time_charts").trend_png
        trend = self.segments.trend()
        path = trend_png(trend, self.segments.trend_chart_path(trend))
        return dataclasses.replace(trend, chart=str(path))
