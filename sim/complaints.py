"""Simulated complaints from the public with their ground truth: which cards the complaint service must raise, when.

Pure: the seed, a day, the departments, the limits and the calendar in; the complaints received that day (their
messages with simulated times) and the expected cards out. Each complaint gets one behaviour from its own random
stream (seed and complaint id). The expected moments are worked out here from the law's counting (start day not
counted, 24:00 of the last working day), independently of complaints/rules.py, so the oracle test can catch it.
The complainants are made up (a name, a mobile number, an ID number); they are sealed as the intake seals them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from complaints.config import ComplaintsConfig
from complaints.contract import COMPLAINT_ADAPTER, ComplaintMessage, SealedContact, message_id
from streams.rules.calendar import TZ, WorkCalendar

BEHAVIOURS = {
    "prompt": 0.45,
    "late_dispatch": 0.12,
    "slow_yellow": 0.1,
    "slow_red": 0.05,
    "extended_thrice": 0.08,
    "unsatisfied_twice": 0.1,
    "unsatisfied_once": 0.1,
}
CATEGORIES = {"efficiency": 0.35, "attitude": 0.3, "fees": 0.15, "misconduct": 0.1, "other": 0.1}
SUBSTANTIATED = {
    "efficiency": "attitude",
    "attitude": "attitude",
    "other": "attitude",
    "fees": "integrity",
    "misconduct": "integrity",
}
_SURNAMES, _GIVEN = "欧司上诸东皇", "明远思源嘉懿煜城懿轩烨华"


@dataclass(frozen=True)
class Office:
    """A department office complaints can be about: its department, region and staff."""

    department_id: str
    region_code: str
    staff: tuple[str, ...]


@dataclass(frozen=True)
class Clear:
    """The made-up complainant in clear: only the simulator and the tests that look for it hold it."""

    name: str
    phone: str
    id_number: str


@dataclass(frozen=True)
class ComplaintPlan:
    """One complaint's story: its behaviour, the complainant, its messages and the cards (rule, moment) expected."""

    complaint_id: str
    behaviour: str
    category: str
    department_id: str
    staff_id: str | None
    substantiated: bool
    clear: Clear
    messages: list[ComplaintMessage]
    cards: list[tuple[str, datetime]]  # expected (rule, moment)

    def truth(self, at: datetime) -> dict[str, Any]:
        """The complaint's truth record at ``at``: what it is, and the cards expected by then."""
        return {
            "complaint_id": self.complaint_id,
            "behaviour": self.behaviour,
            "category": self.category,
            "department_id": self.department_id,
            "staff_id": self.staff_id,
            "substantiated": self.substantiated,
            "cards": [[r, m.isoformat()] for r, m in self.cards if m <= at],
        }


def seal(clear: Clear, seed: int) -> SealedContact:
    """HMAC-SHA256 of the phone under the simulation's salt, AES-GCM of the rest under its key."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = hashlib.sha256(f"esup-sim-seal:{seed}".encode()).digest()
    nonce = hashlib.sha256(f"{seed}:{clear.phone}:{clear.id_number}".encode()).digest()[:12]
    body = json.dumps(clear.__dict__, ensure_ascii=False).encode()
    sealed = base64.urlsafe_b64encode(nonce + AESGCM(key).encrypt(nonce, body, None)).decode().rstrip("=")
    salt = f"esup-sim-salt:{seed}".encode()
    return SealedContact(
        contact_hash=hmac.new(salt, clear.phone.encode(), hashlib.sha256).hexdigest(),
        sealed=sealed,
        key_id=f"sim-{seed}",
    )


def _midnight_after(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), TZ)


def plan_day(
    day: date,
    seed: int,
    offices: list[Office],
    per_day: float,
    cfg: ComplaintsConfig,
    cal: WorkCalendar,
    prefix: str = "CP",
) -> list[ComplaintPlan]:
    """The complaints received on ``day`` (a Poisson-like count around ``per_day``), each with its story."""
    rnd = random.Random(f"{seed}:complaints:{day.isoformat()}")
    n = sum(rnd.random() < per_day / 10 for _ in range(10)) if per_day < 10 else round(rnd.gauss(per_day, 1))
    return [_plan(f"{prefix}-{day.strftime('%Y%m%d')}-{i:03d}", day, seed, offices, cfg, cal) for i in range(max(n, 0))]


def _plan(
    cid: str, day: date, seed: int, offices: list[Office], cfg: ComplaintsConfig, cal: WorkCalendar
) -> ComplaintPlan:
    rnd = random.Random(f"{seed}:complaint:{cid}")
    behaviour = rnd.choices(list(BEHAVIOURS), list(BEHAVIOURS.values()))[0]
    category = rnd.choices(list(CATEGORIES), list(CATEGORIES.values()))[0]
    office = rnd.choice(offices)
    staff = rnd.choice(office.staff) if office.staff and rnd.random() < 0.7 else None
    substantiated = rnd.random() < 0.3
    clear = Clear(
        rnd.choice(_SURNAMES) + rnd.choice(_GIVEN) + rnd.choice(_GIVEN),
        "139" + "".join(rnd.choice("0123456789") for _ in range(8)),
        office.region_code + "19" + "".join(rnd.choice("0123456789") for _ in range(9)) + "X",
    )
    msgs: list[ComplaintMessage] = []
    cards: list[tuple[str, datetime]] = []
    n = iter(range(100))

    def add(kind: str, at: datetime, **fields: Any) -> datetime:
        actor = {"received": "intake", "evaluated": "citizen"}.get(kind, f"{office.department_id}.office")
        raw = {
            "type": kind,
            "message_id": message_id(cid, kind, str(next(n))),
            "complaint_id": cid,
            "actor_id": actor,
            "at": at,
            **fields,
        }
        msgs.append(COMPLAINT_ADAPTER.validate_python(raw))
        return at

    def wd(k: int, base: date, hour: int) -> datetime:
        return datetime.combine(cal.add_workdays(base, k), time(hour), TZ)

    dept = {"department_id": office.department_id}
    received = add(
        "received",
        datetime.combine(day, time(rnd.randint(8, 20), rnd.randint(0, 59)), TZ),
        channel=rnd.choice(["web", "hotline", "letter", "in_person"]),
        category=category,
        department_id=office.department_id,
        staff_id=staff,
        region_code=office.region_code,
        text=f"{category} 投诉: 窗口办事问题, 联系电话 {clear.phone}",  # the intake masks nothing
        complainant=seal(clear, seed).model_dump(),
    )
    rd = received.date()
    add("registered", received + timedelta(minutes=30), region_code=office.region_code[:4] + "00")
    dispatch_k = cfg.dispatch_wd + 1 if behaviour == "late_dispatch" else 1
    if behaviour == "late_dispatch":
        cards.append(("CMP_DISPATCH_LATE", _midnight_after(cal.add_workdays(rd, cfg.dispatch_wd))))
    dispatched = add("dispatched", wd(dispatch_k, rd, 10), **dept)
    dd = dispatched.date()
    add("accepted", dispatched + timedelta(hours=1), **dept)
    reply_k = {"slow_yellow": cfg.handle_wd + 2, "slow_red": cfg.red_wd + 1, "extended_thrice": cfg.handle_wd + 4}.get(
        behaviour, 3
    )
    if behaviour in ("slow_yellow", "slow_red"):
        cards.append(("CMP_REPLY_LATE", _midnight_after(cal.add_workdays(dd, cfg.handle_wd))))
    if behaviour == "slow_red":
        cards.append(("CMP_REPLY_LATE_RED", _midnight_after(cal.add_workdays(dd, cfg.red_wd))))
    if behaviour == "extended_thrice":
        for k in range(1, 4):  # 2 WD each, each granted well before the limit then in force
            third = add("extended", wd(k, dd, 11), extra_wd=2, reason="需要现场核查", **dept)
        cards.append(("CMP_EXTENDED_TOO_OFTEN", third))
    replied = add("replied", wd(reply_k, dd, 16), result="已调查处理并答复", **dept)
    unsatisfied = behaviour in ("unsatisfied_twice", "unsatisfied_once")
    evaluated = add("evaluated", wd(1, replied.date(), 10), rating="unsatisfied" if unsatisfied else "satisfied")
    if behaviour == "unsatisfied_twice":
        reopened = add("reopened", evaluated + timedelta(hours=4), reason="群众不满意, 重新办理")
        replied = add("replied", wd(2, reopened.date(), 16), result="重新办理并答复", **dept)
        evaluated = add("evaluated", wd(1, replied.date(), 10), rating="unsatisfied")
        cards.append(("CMP_UNSATISFIED_AGAIN", evaluated))
    closed = add(
        "closed",
        wd(1, evaluated.date(), 11),
        substantiated=substantiated,
        finding="投诉属实, 已责令整改" if substantiated else "投诉不属实",
    )
    if unsatisfied:
        cards.append(("CMP_UNSATISFIED_FINAL", closed))
    if substantiated:
        cards.append(("CMP_SUBSTANTIATED", closed))
    return ComplaintPlan(
        cid,
        behaviour,
        category,
        office.department_id,
        staff,
        substantiated,
        clear,
        msgs,
        sorted(cards, key=lambda c: (c[1], c[0])),
    )
