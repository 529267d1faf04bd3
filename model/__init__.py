"""segbot's segmentation core: data -> features -> k -> KMeans -> named, versioned segments.

No Slack here. `__all__` is what the rest of the project (`bot/`, `bench/`) may
import: `from model import SegmentService, Settings`. Everything else is the
core's own business and may move.

    model/data/      where data comes in: files, databases, purchase logs, samples
    model/training/  how a version is trained: features, k, naming, stages, Spark
    model/versions/  how versions are kept and read: registry, metadata, history, export
    model/charts/    the PNG charts and the process that draws them

Names resolve on first use, so `import model` stays cheap: `segbot ask` and the
bot's start-up import pandas, scikit-learn and matplotlib only when they need them.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module that defines it (the one home of each name)
_HOMES: dict[str, str] = {
    # the service every adapter calls, and what it answers and raises
    "SegmentService": "model.service",
    "Settings": "model.config",
    "CommaList": "model.config",
    "SegbotError": "model.errors",
    "DataError": "model.errors",
    "InputError": "model.errors",
    "NoModel": "model.errors",
    "NotFound": "model.errors",
    "RetrainInProgress": "model.errors",
    "Change": "model.answers",
    "CustomerAnswer": "model.answers",
    "CustomerHistory": "model.answers",
    "Export": "model.answers",
    "FeatureValue": "model.answers",
    "Flows": "model.answers",
    "History": "model.answers",
    "Membership": "model.answers",
    "Movers": "model.answers",
    "PredictAnswer": "model.answers",
    "RetrainResult": "model.answers",
    "Rollback": "model.answers",
    "SegmentInfo": "model.answers",
    "SegmentRef": "model.answers",
    "Stretch": "model.answers",
    "Summary": "model.answers",
    "TextShare": "model.answers",
    "Trend": "model.answers",
    "TrendVersion": "model.answers",
    "VersionInfo": "model.answers",
    "VersionSegment": "model.answers",
    "to_dict": "model.answers",
    "WriteBackResult": "model.versions.write_back",
    "Labels": "model.data.labels",
    "NO_LABELS": "model.data.labels",
    "biggest_flows": "model.versions.over_time",
    # names shared with readers of answers
    "CHARTS": "model.charts",
    "ROW_IDS": "model.data.ids",
    "WAITING_FOR_CHARTS": "model.training.train",
    # the CLI's verbs
    "Registry": "model.versions.registry",
    "export_version": "model.versions.export",
    "write_sample": "model.data.sample",
    "write_transactions": "model.data.sample_transactions",
    "write_atomic": "model.versions.registry",
    "BackgroundImport": "model.imports",
    # what the benchmarks time or compare
    "load_dataset": "model.data.load",
    "read_raw": "model.data.load",
    "read_source": "model.data.load",
    "customer_features": "model.data.transactions",
    "PURCHASE_FEATURES": "model.data.transactions",
    "use_pushdown": "model.data.transactions_sql",
    "fit_transformer": "model.training.pipeline",
    "transform": "model.training.pipeline",
    "lloyd": "model.training.selection",
    "distances_to": "model.training.selection",
    "sample_rows": "model.training.selection",
    "SELECT_SAMPLE": "model.training.selection",
    "FINAL_N_INIT": "model.training.selection",
    "LLOYD_TOL": "model.training.selection",
    "use_chart_worker": "model.training.train",
    "LoadedVersion": "model.versions.version",
    "save_assignments": "model.versions.version",
    "assignment_batches": "model.versions.export",
    "FileTarget": "model.versions.write_back",
    "SqlTarget": "model.versions.write_back",
    "ChartInput": "model.charts.version_charts",
    "ChartSegment": "model.charts.version_charts",
    "MAX_POINTS": "model.charts.version_charts",
    "chart_sample": "model.charts.version_charts",
    "render_all": "model.charts.version_charts",
}
# a public name that differs from its name at home
_AS: dict[str, str] = {
    "NO_LABELS": "NONE",
    "PURCHASE_FEATURES": "FEATURES",
    "BackgroundImport": "Background",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'model' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), _AS.get(name, name))
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
