"""Reading a dataset and validating it once, at the boundary (docs/data-contract.md): the import
path the rest of the package uses. The work is done in

- ``analytics.data.dataset``: ``Dataset``, ``load_dataset`` (a folder), ``load_frames`` (tables
  already in memory), both through the same validation;
- ``analytics.data.files``: finding a table's file, checking it before it is opened, the line of
  a CSV problem;
- ``analytics.data.tables``: reading and validating the small tables;
- ``analytics.data.telemetry``: the telemetry files, their harmonisation, the lazy validation;
- ``analytics.data.values``: parsing and checking one value by its contract kind.
"""

from __future__ import annotations

from analytics.core.columns import LINE, ROW
from analytics.core.schemas import ALL_TABLES
from analytics.data.dataset import Dataset, load_dataset, load_frames, load_telemetry_part
from analytics.data.tables import empty_table

__all__ = [
    "Dataset",
    "load_dataset",
    "load_frames",
    "load_telemetry_part",
    "empty_table",
    "ALL_TABLES",
    "ROW",
    "LINE",
]
