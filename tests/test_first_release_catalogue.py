"""Every first-release event of the domain catalogue (domain.md §3, the rows marked ★) exists.

The list is copied from the catalogue, so a removed or renamed event class fails here; three
of them (TaskAutoClosed, NoticePublished, LedgerAnchored) were once missing without a test
noticing.
"""

from __future__ import annotations

import ledger.ledger  # noqa: F401  (imports every domain module, as the application does)
from ledger.catalogue import build_catalogue

FIRST_RELEASE = (
    "ServiceContractRegistered", "ServiceLevelClauseDefined", "ServiceLevelClauseRevised",
    "BusinessCalendarPublished", "OrgUnitCreated", "StaffOnboarded", "StaffOffboarded",
    "PositionAssigned", "PositionRevoked", "ResponsibilityAreaDefined", "ResponsibilityAssigned",
    "ResponsibilityReleased", "EscalationChainDefined", "WorkRulePublished",
    "WorkRuleAcknowledged", "TaskRegistered", "TaskDispatched", "TaskAccepted", "TaskDeclined",
    "TaskReassigned", "ArrivedOnSite", "WorkStarted", "TaskPutOnHold", "TaskResumed",
    "WorkCompleted", "CompletionSignedOff", "OwnerAccepted", "OwnerReturned", "TaskReopened",
    "TaskAutoClosed", "TaskClosed", "FollowUpVisitRecorded", "TaskCommentAdded",
    "TaskFieldCorrected", "ChecklistTemplatePublished", "InspectionPlanScheduled",
    "InspectionRoundStarted", "CheckpointVisited", "ChecklistItemRecorded", "FindingRaised",
    "InspectionRoundCompleted", "InspectionRoundMissed", "CorrectiveActionOpened",
    "CorrectiveActionPlanned", "CorrectiveActionImplemented", "CorrectiveActionVerified",
    "CorrectiveActionClosed", "CorrectiveActionReopened", "SlaClockStarted", "SlaClockPaused",
    "SlaClockResumed", "SlaWarningRaised", "SlaBreached", "SlaEscalated", "SlaClockStopped",
    "PenaltyProposed", "PenaltyNotified", "AppealFiled", "AppealRuled", "PenaltyConfirmed",
    "PenaltyReduced", "PenaltyRevoked", "PerformancePeriodClosed", "NoticePublished",
    "LedgerAnchored",
)


def test_every_first_release_event_is_in_the_catalogue() -> None:
    assert len(FIRST_RELEASE) == 65
    missing = sorted(set(FIRST_RELEASE) - set(build_catalogue().events))
    assert missing == []
