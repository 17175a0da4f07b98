"""The simulated complainants are sealed under the platform's keys on the way out, so the desk can open them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from complaints.config import load_complaints_config
from complaints.pii import keyring
from esup.settings import load_settings
from sim.complain import Complainants, offices
from streams.rules import WorkCalendar


def test_a_receipt_leaves_sealed_with_the_platform_keys_and_opens_to_the_planned_complainant(tmp_path: Path) -> None:
    s = load_settings(home=tmp_path / ".esup")
    c = Complainants(s, 3, load_complaints_config(None), WorkCalendar(), 20.0, offices(s, 3))
    c.plan_to(date(2026, 3, 2))
    received = [m for _, _, m in c.queue if m.type == "received"]
    assert received
    for m in received:
        plan = next(p for p in c.plans if p.complaint_id == m.complaint_id)
        out = c._sealed(m)
        assert out.complainant is not None and m.complainant is not None
        assert out.complainant.key_id != m.complainant.key_id  # the platform's key, not the simulation's
        opened = keyring(s).open(out.complainant.contact_hash, out.complainant.sealed, out.complainant.key_id)
        assert (opened.name, opened.phone, opened.id_number) == (
            plan.clear.name,
            plan.clear.phone,
            plan.clear.id_number,
        )
        assert out.model_dump(exclude={"complainant"}) == m.model_dump(exclude={"complainant"})
    assert (s.home / "credentials" / "complaints").stat().st_mode & 0o077 == 0
