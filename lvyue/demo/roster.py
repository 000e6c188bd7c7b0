"""Who and what the demo company has: two properties, ~40 staff, areas and their owners.

Names of people are not in the ledger (personal data lives outside the hashed log); staff are
referred to by their ids, and places carry descriptive names. Staff names and owners' phone
numbers (fake, from the fixed lists at the end) go to the personal-data vault.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    person_id: str
    family: str
    position: str
    property_id: str
    supervisor: str | None
    monthly_wage: str


@dataclass(frozen=True)
class Property:
    property_id: str
    name: str
    prefix: str
    units: tuple[str, ...]
    buildings: tuple[str, ...]


GARDEN = Property(
    "P-GARDEN",
    "翠湖花园 Green Lake Garden (residential)",
    "GD",
    tuple(f"{b}-{f:02d}{u:02d}" for b in ("1", "2", "3") for f in range(1, 19) for u in (1, 2)),
    ("B1", "B2", "B3"),
)
TOWER = Property(
    "P-TOWER",
    "国贸中心 Trade Centre Tower (office)",
    "TW",
    tuple(f"F{f:02d}-{u:02d}" for f in range(2, 31) for u in range(1, 5)),
    ("F-LOW", "F-HIGH"),
)
PROPERTIES = (GARDEN, TOWER)
MINIMUM_WAGE = "2690.00"

WAGES = {
    "project_manager": "15000.00",
    "site_supervisor": "8500.00",
    "quality_inspector": "7500.00",
    "dispatcher": "5600.00",
    "safety_manager": "9000.00",
    "technician": "6800.00",
    "guard": "4800.00",
    "cleaner": "4300.00",
    "performance_officer": "9500.00",
    "leadership": "25000.00",
}


def staff_of(prop: Property) -> list[Person]:
    """19 people per property: a manager, three supervisors, inspector, dispatcher, safety manager,
    five technicians, four guards and three cleaners."""
    p, pid = prop.prefix, prop.property_id

    def person(suffix: str, family: str, position: str, boss: str | None) -> Person:
        return Person(f"{p}-{suffix}", family, position, pid, boss, WAGES[position])

    people = [
        person("PM", "management", "project_manager", "HQ-LD"),
        person("ES", "engineering", "site_supervisor", f"{p}-PM"),
        person("SS", "security", "site_supervisor", f"{p}-PM"),
        person("CS", "cleaning", "site_supervisor", f"{p}-PM"),
        person("QI", "quality", "quality_inspector", f"{p}-PM"),
        person("DS", "customer_service", "dispatcher", f"{p}-PM"),
        person("SM", "management", "safety_manager", f"{p}-PM"),
    ]
    people += [person(f"T{i}", "engineering", "technician", f"{p}-ES") for i in range(1, 6)]
    people += [person(f"G{i}", "security", "guard", f"{p}-SS") for i in range(1, 5)]
    people += [person(f"C{i}", "cleaning", "cleaner", f"{p}-CS") for i in range(1, 4)]
    return people


HEADQUARTERS = [
    Person("HQ-LD", "management", "leadership", "P-GARDEN", None, WAGES["leadership"]),
    Person(
        "HQ-PO", "quality", "performance_officer", "P-GARDEN", "HQ-LD", WAGES["performance_officer"]
    ),
]


def everyone() -> list[Person]:
    return [*HEADQUARTERS, *(x for prop in PROPERTIES for x in staff_of(prop))]


@dataclass(frozen=True)
class AreaPlan:
    area_id: str
    property_id: str
    name: str
    kind: str
    lines: dict[str, str]  # service line -> responsible person


def areas_of(prop: Property) -> list[AreaPlan]:
    """Buildings/floors answered for by a technician (repair) and the supervisors; public areas by
    the security supervisor; elevators by the safety manager."""
    p, pid = prop.prefix, prop.property_id
    plans = [
        AreaPlan(
            f"{p}-{b}",
            pid,
            f"{prop.name.split()[0]} {b}",
            "building",
            {
                "repair": f"{p}-T{i + 1}",
                "emergency": f"{p}-ES",
                "cleaning": f"{p}-CS",
                "complaint": f"{p}-DS",
            },
        )
        for i, b in enumerate(prop.buildings)
    ]
    plans.append(
        AreaPlan(
            f"{p}-PUBLIC",
            pid,
            "出入口与车库 gates and garage",
            "public_area",
            {"security": f"{p}-SS", "patrol": f"{p}-SS", "cleaning": f"{p}-CS"},
        )
    )
    plans.append(
        AreaPlan(
            f"{p}-LIFT",
            pid,
            "电梯 elevators",
            "asset_class",
            {"elevator": f"{p}-SM", "repair": f"{p}-ES"},
        )
    )
    return plans


# -- personal data (stored in the vault, never in events) ------------------------------------

SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "罗", "高")
GIVEN_NAMES = ("伟", "芳", "娜", "敏", "静", "磊", "强", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "秀英", "建华", "志强", "丽华", "海燕", "国庆", "春梅", "文斌")
MOBILE_PREFIXES = ("138", "139", "135", "136", "158", "159", "186", "187", "150", "152")


def name_of(number: int) -> str:
    """A fake but plausible Chinese name for the staff member numbered `number` (1-based)."""
    return SURNAMES[(number * 7) % len(SURNAMES)] + GIVEN_NAMES[(number * 11) % len(GIVEN_NAMES)]


def phone_of(owner_id: str) -> str:
    """A fake mainland mobile number, fixed per owner id (drawn from no shared random source)."""
    digest = hashlib.sha256(owner_id.encode()).digest()
    prefix = MOBILE_PREFIXES[digest[0] % len(MOBILE_PREFIXES)]
    return prefix + f"{int.from_bytes(digest[1:9], 'big') % 10**8:08d}"
