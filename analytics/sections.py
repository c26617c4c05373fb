"""Report sections: re-exports of ``analytics.report`` (the sections package), kept so that
``from analytics import sections as rs`` in notebooks and tests works unchanged."""

from __future__ import annotations

from analytics.report import *  # noqa: F403
from analytics.report import __all__  # noqa: F401
