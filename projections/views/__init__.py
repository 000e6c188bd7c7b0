"""The registered views, in the order the projector applies them (one module per view)."""

from __future__ import annotations

from projections.projector import View
from projections.views.areas import AreasView
from projections.views.chain import ChainView
from projections.views.kpis import KpiView
from projections.views.notices import NoticesView
from projections.views.signatures import SignaturesView
from projections.views.trail import TrailView


def all_views() -> list[View]:
    """Fresh instances of every view; add a view by adding its module and one line here."""
    return [ChainView(), AreasView(), SignaturesView(), TrailView(), KpiView(), NoticesView()]
