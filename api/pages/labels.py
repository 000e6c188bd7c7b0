"""Chinese and English names for the codes the pages show (statuses, event types, roles)."""

from __future__ import annotations

STATUS: dict[str, str] = {
    "registered": "已登记 registered",
    "dispatched": "已派单 dispatched",
    "accepted": "已接单 accepted",
    "declined": "已拒单 declined",
    "on_site": "已到场 on site",
    "in_progress": "处理中 in progress",
    "on_hold": "挂起 on hold",
    "completed": "已完工 completed",
    "signed_off": "已签字确认 signed off",
    "owner_accepted": "业主已验收 owner accepted",
    "returned": "业主退回 returned",
    "reopened": "已重开 reopened",
    "closed": "已关闭 closed",
    "cancelled": "已取消 cancelled",
}

EVENT: dict[str, str] = {
    "TaskRegistered": "登记工单 registered",
    "TaskDispatched": "派单 dispatched",
    "TaskAccepted": "接单 accepted",
    "TaskDeclined": "拒单 declined",
    "TaskReassigned": "改派 reassigned",
    "ArrivedOnSite": "到场 arrived on site",
    "WorkStarted": "开工 work started",
    "TaskPutOnHold": "挂起 put on hold",
    "TaskResumed": "恢复 resumed",
    "WorkCompleted": "完工 work completed",
    "CompletionSignedOff": "责任人签字 signed off",
    "OwnerAccepted": "业主验收 owner accepted",
    "OwnerReturned": "业主退回 owner returned",
    "TaskReopened": "重开 reopened",
    "TaskClosed": "关闭 closed",
    "TaskAutoClosed": "超时自动关闭 auto-closed (owner did not answer)",
    "LedgerAnchored": "存证 checkpoint anchored outside",
    "TaskCancelled": "取消 cancelled",
    "TaskCommentAdded": "备注 comment",
    "FollowUpVisitRecorded": "回访 follow-up visit",
    "TaskFieldCorrected": "更正 field corrected",
    "SlaBreached": "超时 SLA breached",
    "SlaEscalated": "升级 SLA escalated",
    "ResponsibilityAssigned": "指派责任 responsibility assigned",
    "ResponsibilityAccepted": "接受责任 responsibility accepted",
    "ResponsibilityReleased": "解除责任 responsibility released",
    "WorkRuleAcknowledged": "确认制度 work rule acknowledged",
    "AppealRuled": "申诉裁决 appeal ruled",
    "CorrectiveActionVerified": "整改验证 correction verified",
    "InspectionRoundCompleted": "巡检签字 inspection signed",
    "PenaltyNotified": "处罚告知 penalty notified",
    "NoticePublished": "公示 notice published",
}

ROLE: dict[str, str] = {
    "staff": "员工 staff",
    "supervisor": "主管 supervisor",
    "project_manager": "项目经理 project manager",
    "quality_inspector": "品质督导 quality inspector",
    "performance_officer": "履约监督部 performance officer",
    "owner": "业主 owner",
    "auditor": "审计 auditor",
    "admin": "管理员 admin",
}

TERM: dict[str, str] = {
    "OT": "准时 on time",
    "Q": "质量 quality",
    "R": "业主评价 owner rating",
    "C": "合规 compliance",
    "W": "工作量 workload",
    "P": "扣分 penalty",
    "B": "奖励 bonus",
}

GATE: dict[str, str] = {
    "no_serious_violation": "一票否决 serious violation",
    "workload": "工作量门槛 workload",
    "minimum_sample": "样本量 minimum sample",
    "exam": "季度考试 exam",
    "no_pending_penalty": "无待决处罚 no pending penalty",
}


NOTICE_KIND: dict[str, str] = {
    "service_standards": "服务标准 service standards",
    "responsible_persons": "责任人公示 responsible persons",
    "fees": "收费标准 fees",
    "maintenance_plan": "维修计划 maintenance plan",
    "income_expense": "收支情况 income and expenses",
    "common_revenue": "公共收益 common-part revenue",
    "maintenance_fund": "维修资金 maintenance fund",
    "annual_report": "年度报告 annual report",
    "outage": "停水停电 outage",
    "emergency": "紧急通知 emergency",
    "safety_warning": "安全警示 safety warning",
}

CHANNEL: dict[str, str] = {
    "board": "公告栏 notice board",
    "app": "应用 app",
    "wechat": "微信 WeChat",
    "sms": "短信 SMS",
    "letter": "书面 letter",
}


def status(code: str | None) -> str:
    return "—" if code is None else STATUS.get(code, code)


def event(code: str) -> str:
    return EVENT.get(code, code)


def role(code: str) -> str:
    return ROLE.get(code, code)


def term(code: str) -> str:
    return TERM.get(code, code)


def gate(code: str) -> str:
    return GATE.get(code, code)


def notice_kind(code: str) -> str:
    return NOTICE_KIND.get(code, code)


def channel(code: str) -> str:
    return CHANNEL.get(code, code)
