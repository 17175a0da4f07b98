"""The simulated public through the complaint service on real Kafka and ClickHouse: the cards raised equal the
simulator's truth, and no ClickHouse table holds any simulated complainant's phone, ID number or name in clear."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from complaints import repeat
from complaints.config import load_complaints_config
from complaints.service import ComplaintsService
from complaints.store import ComplaintStore
from esup.settings import Settings
from esup.stack.servers import Provided
from sim.complain import CLEAR_FILE, TRUTH_FILE, complain_until
from streams.rules.calendar import TZ, WorkCalendar
from tests.integration.analytics_db import fresh_database
from tests.support import admin_auth, grant_platform

pytestmark = pytest.mark.integration

DB = "esup_test_complaints_sim"
UNTIL = datetime(2026, 3, 20, tzinfo=TZ)


@pytest.fixture(scope="module")
def db(clickhouse_server: Provided) -> Iterator[Any]:
    c = fresh_database(clickhouse_server.address, DB)
    yield c
    c.execute(f"DROP DATABASE IF EXISTS {DB}")


def test_simulated_complaints_raise_their_truth(
    platform_settings: Settings,
    new_topic: Callable[..., str],
    new_audit_topic: Callable[..., str],
    db: Any,
    tmp_path: Path,
) -> None:
    t = {
        "complaints": new_topic(3, "complaints"),
        "findings": new_topic(3, "findings"),
        "ticks": new_topic(1, "ticks"),
        "clock": new_topic(1, "complaintticks"),
        "dead": new_topic(1, "dead"),
        "audit": new_audit_topic("audit"),  # and each writer's: the simulator audits as the clock
    }
    s = platform_settings.model_copy(
        update={"topic_complaints": t["complaints"], "topic_complaint_ticks": t["clock"], "topic_audit": t["audit"]}
    )
    grant_platform(s)  # the simulator publishes as the API and ticks as the clock, on this test's topic
    cfg, cal = load_complaints_config(), WorkCalendar()
    # From before Spring Festival to mid-March: every behaviour, some across the holiday.
    sent, n = complain_until(
        s, seed=11, start=date(2026, 2, 2), until=UNTIL, per_day=3.0, out=tmp_path, cfg=cfg, calendar=cal
    )
    assert n > 60 and sent > 5 * n
    svc = ComplaintsService(
        bootstrap=s.kafka_bootstrap,
        complaints_topic=t["complaints"],
        findings_topic=t["findings"],
        ticks_topic=t["ticks"],
        dead_letter_topic=t["dead"],
        cfg=cfg,
        calendar=cal,
        clock="event",
        store=ComplaintStore(db),
        auth=admin_auth(),
        clock_ticks_topic=t["clock"],
    )
    try:
        svc.start()
        assert svc.now() == UNTIL  # the simulator's tick moved the event clock to the end
        raised = svc.sweep()
    finally:
        svc.close()
    truth = [json.loads(line) for line in (tmp_path / TRUTH_FILE).read_text(encoding="utf-8").splitlines()]
    want = sorted((c["complaint_id"], r, m) for c in truth for r, m in c["cards"])
    got = sorted(
        (f.details["complaint_id"], f.rule, f.detected_at.isoformat()) for f in raised if f.rule != repeat.RULE
    )
    assert got == want and len({r for _, r, _ in want}) == 7
    assert db.execute("SELECT count() FROM complaint_messages FINAL")[0][0] == sent
    clear = [json.loads(line) for line in (tmp_path / CLEAR_FILE).read_text(encoding="utf-8").splitlines()]
    assert (tmp_path / CLEAR_FILE).stat().st_mode & 0o777 == 0o600 and len(clear) == n
    values = sorted({c[k] for c in clear for k in ("name", "phone", "id_number")})
    hits = []
    for (table,) in db.execute(f"SELECT name FROM system.tables WHERE database = '{DB}' AND engine != 'View'"):
        for (col,) in db.execute(
            f"SELECT name FROM system.columns WHERE database = '{DB}' AND table = '{table}' AND type LIKE '%String%'"
        ):
            # ClickHouse 18.16 has no multiSearchAny: the (small) column is searched here.
            text = "\n".join(str(v) for (v,) in db.execute(f"SELECT toString({col}) FROM {table}"))
            hits += [(table, col, v) for v in values if v in text]
    assert hits == []
