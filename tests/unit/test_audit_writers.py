"""What each audit writer may record: a record its writer may not make is forged (esup/audit_writers.py)."""

from __future__ import annotations

from esup import kafka_auth as ka
from esup.audit_writers import LEGACY, WRITERS, forgery


def test_each_writer_may_record_its_own_actions_only() -> None:
    own = [
        (ka.ADMIN, "access.bootstrap", "kafka:admin"),
        (ka.ADMIN, "gateway.token-add", "kafka:admin"),
        (ka.ADMIN, "hotline.token-revoke", "kafka:admin"),
        (ka.CATALOG, "catalog.publish", "kafka:esup-catalog"),
        (ka.ADOPTER, "config.adopt", "kafka:esup-adopter"),
        (ka.CLOCK, "clock.advance", "kafka:esup-clock"),
        (ka.GATEWAY, "gateway.ingest", "department"),
        (ka.GATEWAY, "gateway.ingest", ""),
        (ka.API, "decide", "supervisor"),
        (ka.API, "console:login", ""),
        (ka.API, "complaint.hotline", "hotline"),
        (ka.API, "/findings/f1", "department"),
    ]
    for writer, action, role in own:
        assert forgery(writer, action, role) is None, (writer, action, role)


def test_a_writer_claiming_another_writers_record_is_forged() -> None:
    forged = [
        (ka.CLOCK, "decide", "supervisor"),  # the clock claiming a supervisor's dismissal
        (ka.CLOCK, "clock.advance", "supervisor"),  # its action, another's role
        (ka.CLOCK, "catalog.publish", "kafka:esup-catalog"),
        (ka.API, "catalog.publish", "kafka:esup-catalog"),  # the catalog the dossiers cite
        (ka.API, "clock.advance", "supervisor"),
        (ka.API, "decide", "kafka:esup-clock"),
        (ka.API, "gateway.ingest", "department"),
        (ka.API, "access.rotate", "supervisor"),
        (ka.GATEWAY, "decide", "supervisor"),
        (ka.CATALOG, "config.adopt", "kafka:esup-adopter"),
        (ka.ADOPTER, "catalog.publish", "kafka:esup-adopter"),
        (ka.ADMIN, "decide", "supervisor"),
        (ka.LOOP, "decide", "supervisor"),  # no audit writer at all
    ]
    for writer, action, role in forged:
        assert forgery(writer, action, role), (writer, action, role)
    assert "action 'decide'" in (forgery(ka.CLOCK, "decide", "supervisor") or "")
    assert "role 'supervisor'" in (forgery(ka.CLOCK, "clock.advance", "supervisor") or "")


def test_legacy_records_cannot_be_judged() -> None:
    assert forgery(LEGACY, "decide", "kafka:esup-clock") is None


def test_the_apis_roles_are_its_users_roles_and_its_callers() -> None:
    from api.auth import Role

    api = next(w for w in WRITERS if w.principal == ka.API)
    assert set(api.roles) == {r.value for r in Role} | {"public", "hotline", ""}  # complaints/intake.py
    assert not any(r.startswith("kafka:") for r in api.roles)
