"""The Ledger: every use case on one application (the composition of the use-case mixins)."""

from __future__ import annotations

from ledger.usecases.accountability import AccountabilityUseCases
from ledger.usecases.anchors import AnchorUseCases
from ledger.usecases.contracts import ContractUseCases
from ledger.usecases.inspections import InspectionUseCases
from ledger.usecases.notices import NoticeUseCases
from ledger.usecases.organisation import OrganisationUseCases
from ledger.usecases.personal import PersonalUseCases
from ledger.usecases.sla import SlaUseCases
from ledger.usecases.staff import StaffUseCases
from ledger.usecases.tasks import TaskUseCases


class Ledger(
    OrganisationUseCases,  # before TaskUseCases: its responsible_for() replaces the stub
    ContractUseCases,
    AccountabilityUseCases,
    NoticeUseCases,
    InspectionUseCases,
    SlaUseCases,
    TaskUseCases,
    StaffUseCases,
    PersonalUseCases,
    AnchorUseCases,
):
    """The write side of lvyue."""
