"""The gateway without servers: tokens hashed at rest (0600), the rate limiter, the body parser, the bridge verdict."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

import esup.tokens
from esup.cli import main
from esup.ratelimit import RateLimiter
from esup.tokens import HASHER, TokenFileError, TokenStore
from gateway.body import MAX_PROBLEMS, parse_body
from gateway.bridge import judge, pattern
from schemas.events import event_to_json
from tests.support import event

PREFIX = "esup.ingest."


def test_token_is_shown_once_and_only_its_argon2_hash_is_kept_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "credentials" / "gateway" / "tokens.json"
    tokens = TokenStore(path)
    record, token = tokens.add("DZ-SCJG")
    text = path.read_text()
    assert token not in text and token.split(".")[2] not in text  # the secret is nowhere at rest
    kept = json.loads(text)["tokens"][0]
    assert kept["hash"].startswith("$argon2id$") and HASHER.verify(kept["hash"], token)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert tokens.verify(token) == record and record.department_id == "DZ-SCJG"
    # A fresh reader (another process) verifies it too; a wrong secret, id or shape does not.
    assert TokenStore(path).verify(token) == record
    assert tokens.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert tokens.verify(token.replace(record.token_id, "0" * 12)) is None
    assert tokens.verify("") is None and tokens.verify("a.b.c.d") is None


def test_verification_is_argon2s_constant_time_compare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = TokenStore(tmp_path / "t.json")
    _, token = tokens.add("D1")
    seen: list[str] = []

    class Spy:
        def verify(self, h: str, t: str) -> bool:
            seen.append(h)
            return HASHER.verify(h, t)

    monkeypatch.setattr(esup.tokens, "HASHER", Spy())
    assert tokens.verify(token) is not None and tokens.verify("esgw.ffffffffffff.x") is None
    assert len(seen) == 2  # an unknown token id is still checked against a hash: a miss costs what a hit costs


def test_revoked_tokens_stop_working_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    server = TokenStore(path)
    _, a = server.add("D1")
    _, b = TokenStore(path).add("D1")
    _, c = TokenStore(path).add("D2")
    assert server.verify(a) and server.verify(b) and server.verify(c)
    assert [r.department_id for r in TokenStore(path).revoke(department_id="D1")] == ["D1", "D1"]
    assert server.verify(a) is None and server.verify(b) is None and server.verify(c) is not None


def test_a_tokens_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    _, token = TokenStore(path).add("D1")
    path.chmod(0o644)
    with pytest.raises(TokenFileError, match="readable by others"):
        TokenStore(path).verify(token)


def test_token_cli_prints_the_token_once_and_lists_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ESUP_HOME", str(tmp_path))
    monkeypatch.setattr("esup.access.audit.record_change", lambda *a, **k: None)  # audited: see below
    added = CliRunner().invoke(main, ["gateway", "token", "add", "DZ-1"])
    assert added.exit_code == 0, added.output
    token = added.stdout.strip().splitlines()[-1]
    listed = CliRunner().invoke(main, ["gateway", "token", "list"])
    assert "DZ-1" in listed.output and token.split(".")[2] not in listed.output
    file = tmp_path / "credentials" / "gateway" / "tokens.json"
    assert TokenStore(file).verify(token) is not None
    assert CliRunner().invoke(main, ["gateway", "token", "add", "bad/id"]).exit_code != 0
    assert CliRunner().invoke(main, ["gateway", "token", "revoke", "--department", "DZ-1"]).exit_code == 0
    assert TokenStore(file).verify(token) is None


def test_rate_limiter_allows_the_burst_then_the_rate_and_says_how_long_to_wait() -> None:
    now = [0.0]
    limiter = RateLimiter(rate_per_s=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.take("A") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("A") == pytest.approx(0.5)
    assert limiter.take("B") == 0.0  # per department
    now[0] = 0.5
    assert limiter.take("A") == 0.0 and limiter.take("A") > 0
    now[0] = 100.0  # a quiet department gets its burst back, no more
    assert [limiter.take("A") for _ in range(4)][-1] > 0
    assert RateLimiter.retry_after(0.01) == "1" and RateLimiter.retry_after(2.2) == "3"


def _line(**over: object) -> bytes:
    e = json.loads(event_to_json(event("apply", "2026-06-01T09:00", case="C1", dept="D1")))
    e.update(over)
    return json.dumps(e).encode()


def test_body_as_jsonl_or_array_names_line_field_and_reason() -> None:
    good = _line(event_id="e1")
    events, problems, total = parse_body(good + b"\n\n" + _line(event_id="e2") + b"\r\n", 1 << 20)
    assert [e.event_id for e in events] == ["e1", "e2"] and not problems and total == 0
    events, problems, total = parse_body(b"[" + good + b"," + _line(event_id="e2") + b"]", 1 << 20)
    assert [e.event_id for e in events] == ["e1", "e2"] and not problems
    _, problems, total = parse_body(good + b"\n" + _line(staff_id=5) + b"\n{oops", 1 << 20)
    assert total == 2 and [(p.line, p.field) for p in problems] == [(2, "staff_id"), (3, None)]
    assert "invalid JSON" in problems[1].reason
    _, problems, _ = parse_body(b"[" + good + b", 7]", 1 << 20)
    assert problems[0].line == 2 and "expected a JSON object" in problems[0].reason


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   ",
        b"[]",
        b"[" * 100_000,
        b"\xff\xfe",
        b'"' + b"x" * 200_000,
        b"[1e999999]",
        b"[" + b"9" * 5000 + b"]",
        b"{" * 50 + b"}" * 50,
        b"null",
    ],
)
def test_hostile_bodies_are_problems_never_exceptions(raw: bytes) -> None:
    events, problems, total = parse_body(raw, 1 << 20)
    assert not events and problems and total >= 1 and all(p.reason for p in problems)


def test_problems_shown_are_bounded() -> None:
    _, problems, total = parse_body(b"\n".join([b"{}"] * 1000), 1 << 20)
    assert total == 1000 and len(problems) == MAX_PROBLEMS


def test_bridge_verdict_binds_the_event_to_its_topics_department() -> None:
    assert judge("esup.ingest.D1", PREFIX, b"C1", _line()).forward
    foreign = judge("esup.ingest.D2", PREFIX, b"C1", _line())
    assert not foreign.forward
    assert foreign.reason == (
        "department_id: 'D1' claimed by an event on D2's topic esup.ingest.D2 (principal dept-D2)"
    )
    assert "key: b'C2'" in judge("esup.ingest.D1", PREFIX, b"C2", _line()).reason
    assert "key: missing" in judge("esup.ingest.D1", PREFIX, None, _line()).reason
    assert "staff_id" in judge("esup.ingest.D1", PREFIX, b"C1", _line(staff_id=[1])).reason
    for hostile in (None, b"", b"[" * 1_000_000, b"\xff" * 10, b"x" * (2 << 20)):
        assert not judge("esup.ingest.D1", PREFIX, b"C1", hostile).forward


def test_bridge_pattern_reads_department_topics_only() -> None:
    import re

    rx = re.compile(pattern(PREFIX))
    assert rx.match("esup.ingest.DZ-SCJG") and rx.match("esup.ingest.D_1")
    assert not rx.match("esup.ingest.") and not rx.match("esup.ingestXD1") and not rx.match("esup.case-events")


def test_make_ups_plan_runs_the_bridge_and_gateway_and_the_province_per_department() -> None:
    from esup.cli.processes import Plan, planned
    from esup.settings import Settings

    default = {s.name: s for s in planned(Plan(), Settings(), run_id="x")}
    assert {"bridge", "gateway"} <= set(default) and "--per-department" in default["simulator"].args
    assert default["bridge"].args == ("gateway", "bridge") and default["gateway"].args == ("gateway", "serve")
    direct = {s.name: s for s in planned(Plan(per_department=False), Settings(), run_id="x")}
    assert not {"bridge", "gateway"} & set(direct) and "--per-department" not in direct["simulator"].args


def test_token_changes_are_audited_and_a_token_that_cannot_be_is_not_left_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`esup gateway token add|revoke` and `esup complaints hotline-token add|revoke` record who did what on
    the audit topic (tests/integration/test_audit_records.py: on the real broker). This checks what is
    recorded, and that a token whose issue could not be recorded is revoked again."""
    monkeypatch.setenv("ESUP_HOME", str(tmp_path))
    recorded: list[tuple[str, str, dict[str, object]]] = []
    monkeypatch.setattr(
        "esup.access.audit.record_change",
        lambda s, command, action, detail, **k: recorded.append((command, action, detail)),
    )
    added = CliRunner().invoke(main, ["gateway", "token", "add", "DZ-1"])
    assert added.exit_code == 0, added.output
    token = added.stdout.strip().splitlines()[-1]
    token_id = token.split(".")[1]
    assert recorded == [("esup gateway token add", "gateway.token-add", {"owner": "DZ-1", "token_id": token_id})]
    assert CliRunner().invoke(main, ["gateway", "token", "revoke", "--token-id", token_id]).exit_code == 0
    assert recorded[-1] == (
        "esup gateway token revoke",
        "gateway.token-revoke",
        {"token_ids": [token_id], "owners": ["DZ-1"]},
    )
    hot = CliRunner().invoke(main, ["complaints", "hotline-token", "add", "12345-dz"])
    assert hot.exit_code == 0, hot.output
    assert recorded[-1][:2] == ("esup complaints hotline-token add", "hotline.token-add")
    hot_id = recorded[-1][2]["token_id"]
    assert CliRunner().invoke(main, ["complaints", "hotline-token", "revoke", str(hot_id)]).exit_code == 0
    assert recorded[-1][:2] == ("esup complaints hotline-token revoke", "hotline.token-revoke")

    def unreachable(*a: object, **k: object) -> None:
        raise OSError("the audit topic cannot be reached")

    monkeypatch.setattr("esup.access.audit.record_change", unreachable)
    failed = CliRunner().invoke(main, ["gateway", "token", "add", "DZ-2"])
    assert failed.exit_code != 0
    file = tmp_path / "credentials" / "gateway" / "tokens.json"
    assert not [r for r in TokenStore(file).records().values() if r.department_id == "DZ-2" and r.active]
