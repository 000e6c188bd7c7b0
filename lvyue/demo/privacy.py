"""Personal-data requests in the demo: a legal hold for a dispute and a leaver's erasure.

The demo's vault keys come from a source seeded by the demo seed (`demo_entropy`), so the same
seed writes the same bytes; demo keys are therefore NOT secret — never put real data in a demo.
"""

from __future__ import annotations

import random
from datetime import timedelta

from ledger.personal import Entropy
from lvyue.demo.schedule import Process, Step
from lvyue.demo.world import World

DISPUTED_OWNER = "owner/O-GD-3-1802"
LEAVER = "staff/GD-T5"  # offboarded on day 62 (operations.responsibility_changes)


def demo_entropy(seed: int) -> Entropy:
    """A deterministic byte source for the demo's keys, salts and nonces."""
    return random.Random(f"lvyue-demo-vault-{seed}").randbytes


def privacy_requests(w: World) -> Process:
    """Day 3: a court case puts an owner's data on hold. Day 63: the leaver's data is erased."""
    app = w.app
    yield Step(
        w.day(3, 10),
        "admin",
        lambda c: app.place_legal_hold(
            c,
            DISPUTED_OWNER,
            "H1",
            "漏水赔偿纠纷诉讼 leak compensation lawsuit",
            "(2026)粤0304民初1234号",
        ),
        kind="admin",
    )
    if w.days <= 63:
        return
    yield Step(
        w.day(63, 10) + timedelta(minutes=5),
        "admin",
        lambda c: app.erase_subject(
            c, LEAVER, "离职员工申请删除个人信息 leaver's PIPL art. 47 request"
        ),
        kind="admin",
    )
