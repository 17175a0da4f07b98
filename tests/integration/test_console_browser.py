"""The console in Debian's Chromium (Playwright, headless) on real Kafka and ClickHouse: a clerk answers a yellow
card, a supervisor dismisses it, the ranking changes live; 403 for another department, log-in required, CSRF."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from esup.stack.servers import Provided
from loop.config import LoopConfig
from loop.service import LoopService
from loop.store import MessageStore
from sinks import scoreboard
from sinks.clickhouse import connect_url
from streams.rules.calendar import WorkCalendar
from tests.console_support import CHROMIUM, CHROMIUM_ARGS, PASSWORD, console_app, serve
from tests.integration.analytics_db import cli_env, fresh_database, insert
from tests.integration.test_loop_service import read_all
from tests.loop_support import finding, t
from tests.support import admin_auth

pytestmark = pytest.mark.integration
DB = "esup_test_console"
# Dazhou (5117xx): DZ-1 has two yellow cards (90), DZ-2 one (95) and ranks first — until one of DZ-1's is dismissed.
Y1 = finding(t(2026, 6, 3, 10), case="CASE-A", dept="DZ-1", region="511702", staff="s-1")
Y2 = finding(t(2026, 6, 3, 11), case="CASE-B", dept="DZ-1", region="511702", staff="s-1")
Y3 = finding(t(2026, 6, 2, 15), case="CASE-C", dept="DZ-2", region="511703", staff="s-2")
NOW = [t(2026, 6, 4, 10)]  # Thursday: Y1's 3 working days are 4, 5 and 8 June


def rows(findings: list[Any]) -> list[dict[str, Any]]:
    out = []
    for f in findings:
        d = f.model_dump(exclude={"chain"})
        d.update(
            details=json.dumps(d["details"]),
            provisional=int(d["provisional"]),
            severity=f.severity.value,
            category=f.category.value,
            version=1,
        )
        out.append(d)
    return out


def seed(client: Any) -> None:
    insert(client, "findings", rows([Y1, Y2, Y3]))
    steps = [("apply", 1), ("accept", 1), ("suspend", 2), ("resume", 3)]
    insert(
        client,
        "case_events",
        [
            {
                "event_id": f"e{n}",
                "case_id": "CASE-A",
                "kind": kind,
                "schema_version": 1,
                "item_code": "ITEM",
                "department_id": "DZ-1",
                "region_code": "511702",
                "staff_id": "s-1",
                "occurred_at": t(2026, 6, day, 9 + n),
                "recorded_at": t(2026, 6, day, 9 + n),
                "payload": "{}",
                "source_partition": 0,
                "source_offset": n,
            }
            for n, (kind, day) in enumerate(steps)
        ],
    )
    clocks = [
        {
            "name": "decision",
            "start": "2026-06-01",
            "limit_wd": 20,
            "extension_wd": 0,
            "working_days_used": 3,
            "deadline": "2026-06-29",
            "suspended": False,
            "stopped": False,
        }
    ]
    insert(
        client,
        "case_snapshots",
        [
            {
                "case_id": "CASE-A",
                "item_code": "ITEM",
                "department_id": "DZ-1",
                "region_code": "511702",
                "responsible_staff": "s-1",
                "first_staff": "s-1",
                "stage": "accepted",
                "outcome": None,
                "open": 1,
                "deemed_accepted": 0,
                "decision_deadline": t(2026, 6, 29, 23, 59),
                "working_days_used": 3,
                "next_due": None,
                "last_event_at": t(2026, 6, 3, 12),
                "provisional": 0,
                "calendar_version": "test",
                "clocks": json.dumps(clocks),
                "updated_at": t(2026, 6, 3, 12),
                "version": 1,
            }
        ],
    )
    client.execute(
        "INSERT INTO directory_departments (id, name, region_code, parent, head, bureau, deleted, version) VALUES",
        [
            ("DZ-1", "达州市通川区行政审批局", "511702", "", "head-1", "", 0, 1),
            ("DZ-2", "达州市达川区市场监管局", "511703", "", "head-2", "", 0, 1),
        ],
    )
    client.execute(
        "INSERT INTO directory_staff (id, name, department, roles, email, mobile, deleted, version) VALUES",
        [("s-1", "张三", "DZ-1", ["handler"], "", "", 0, 1), ("s-2", "李四", "DZ-2", ["handler"], "", "", 0, 1)],
    )


@pytest.fixture
def chromium(need: Callable[[bool, str, str], None]) -> Iterator[Any]:
    need(Path(CHROMIUM).exists(), "Chromium", f"{CHROMIUM} missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        need(False, "Playwright", str(exc))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def console(
    clickhouse_server: Provided, kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> Iterator[dict[str, Any]]:
    from esup.producer import kafka_producer

    client = fresh_database(clickhouse_server.address, DB)
    seed(client)
    scoreboard.refresh(client, force=True)  # what `esup db views` does: the bulletin reads the scoreboard
    bulletins = tmp_path / "bulletins"
    result = CliRunner().invoke(
        __import__("esup.cli", fromlist=["main"]).main,
        ["bulletin", "--month", "2026-06", "--database", DB, "--out", str(bulletins)],
        env=cli_env(clickhouse_server.address),
    )
    assert result.exit_code == 0, result.output
    topics = {
        "responses": new_topic(3, "responses"),
        "audit": new_topic(1, "audit"),
        "findings": new_topic(1, "f"),
        "dead": new_topic(1, "dead"),
    }
    producer = kafka_producer(kafka_bootstrap, "test-console", auth=admin_auth())
    # The loop service carries the answers from esup.responses into ClickHouse, as in production.
    loop = LoopService(
        bootstrap=kafka_bootstrap,
        findings_topic=topics["findings"],
        responses_topic=topics["responses"],
        dead_letter_topic=topics["dead"],
        cfg=LoopConfig(),
        calendar=WorkCalendar(),
        clock="event",
        auth=admin_auth(),
        store=MessageStore(connect_url(clickhouse_server.address, DB)),
    )
    stop = threading.Event()
    runner = threading.Thread(target=loop.run, args=(stop, 200), daemon=True)
    runner.start()
    # The scoreboard's refresher, as `esup scores refresh --every` runs beside the console in production.
    scorer = threading.Thread(
        target=scoreboard.run,
        args=(lambda: connect_url(clickhouse_server.address, DB), stop),
        kwargs={"every": 0.5},
        daemon=True,
    )
    scorer.start()
    NOW[0] = t(2026, 6, 4, 10)
    app = console_app(
        lambda: connect_url(clickhouse_server.address, DB), producer, topics, lambda: NOW[0], bulletins=bulletins
    )
    try:
        with serve(app) as base:
            yield {"base": base, "ch": client, "topics": topics}
    finally:
        stop.set()
        runner.join(10)
        scorer.join(10)
        loop.close()
        producer.close()
        client.execute(f"DROP DATABASE IF EXISTS {DB}")


@pytest.fixture
def shots(tmp_path: Path) -> Callable[[Any, str], None]:
    # ESUP_SCREENSHOTS=docs/screenshots keeps them for the README; otherwise they go to the test's folder.
    folder = Path(os.environ.get("ESUP_SCREENSHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str) -> None:
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)

    return take


def log_in(browser: Any, base: str, user: str, start: str = "/") -> Any:
    page = browser.new_context(viewport={"width": 1200, "height": 800}, locale="zh-CN").new_page()
    page.goto(base + start)
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def ranking_ids(page: Any) -> list[str]:
    return [str(x) for x in page.eval_on_selector_all("#ranking-rows tr", "rs => rs.map(r => r.dataset.department)")]


def test_clerk_answers_supervisor_dismisses_ranking_changes(
    chromium: Any, console: dict[str, Any], shots: Callable[[Any, str], None]
) -> None:
    base, ch = console["base"], console["ch"]
    # No session: sent to log in, and back to the page asked for afterwards.
    anonymous = chromium.new_context().new_page()
    anonymous.goto(base + "/inbox")
    assert anonymous.url == base + "/login?next=%2Finbox"
    shots(anonymous, "login")
    clerk = log_in(chromium, base, "dz1", "/inbox")
    assert clerk.url == base + "/inbox"
    row = clerk.locator(f"tr[data-finding='{Y1.finding_id}']")
    assert row.locator(".card-yellow").inner_text() == "黄牌"
    assert "2026-06-08 24:00" in row.inner_text() and "剩余 3 个工作日" in row.inner_text()
    assert clerk.locator("#inbox-rows tr").count() == 2  # Y1 and Y2; DZ-2's card is not in DZ-1's inbox
    shots(clerk, "inbox")
    # The answer, from the finding's page (a second tab: the inbox stays open and must update by itself).
    answer = clerk.context.new_page()
    answer.goto(f"{base}/findings/{Y1.finding_id}")
    assert "行政许可法 第42条" in answer.inner_text(".law")
    with answer.expect_download() as dl:
        answer.click("text=下载证据材料（PDF）")
    assert Path(dl.value.path()).read_bytes()[:5] == b"%PDF-"
    shots(answer, "finding")
    answer.select_option("select[name=kind]", "explanation")
    answer.fill("textarea[name=text]", "系统故障导致延误，已于当日补录。")
    answer.click("text=提交回告")
    assert "已提交" in answer.inner_text("p.ok")
    clerk.wait_for_selector(f"tr[data-finding='{Y1.finding_id}']", state="detached", timeout=20_000)
    assert clerk.locator("#inbox-rows tr").count() == 1
    # The supervisor: the answer in the queue, the ranking (DZ-2 first), then a dismissal.
    sup = log_in(chromium, base, "sup-dazhou")
    assert sup.url == base + "/queue"
    sup.wait_for_selector(f"tr[data-finding='{Y1.finding_id}']")
    assert "系统故障导致延误" in sup.inner_text(f"tr[data-finding='{Y1.finding_id}']")
    shots(sup, "queue")
    board = sup.context.new_page()
    board.goto(base + "/ranking")
    assert ranking_ids(board) == ["DZ-2", "DZ-1"]
    assert "达州市达川区市场监管局" in board.inner_text("#ranking-rows")
    as_of = board.inner_text("[data-as-of]")
    assert re.fullmatch(r"(\d{4}-\d{2}-\d{2} )?\d{2}:\d{2}:\d{2}", as_of), as_of  # 得分截至: the board's age
    fair = board.inner_text("#fair")  # the fair comparison beside the official ranking, in plain words
    assert "公平比较（参考）" in fair and "正式排名仍按公布的考评细则计分" in fair
    assert board.locator("#fair").count() == 1 and "公平" not in board.title()  # once, in the page, not its title
    assert "暂不可用" not in fair
    shots(board, "ranking")
    sup.click(f"tr[data-finding='{Y1.finding_id}'] a")
    sup.select_option("select[name=outcome]", "dismissed")
    sup.select_option("select[name=dismissal_reason]", "lawful_cause")
    sup.fill("textarea[name=reason]", "系统故障属实，不予扣分。")
    sup.click("text=提交决定")
    assert "已提交" in sup.inner_text("p.ok")
    # The ranking page updates by itself: Y1 no longer costs DZ-1 points (95 = 95, the smaller id first).
    board.wait_for_function(
        "() => document.querySelector('#ranking-rows tr').dataset.department === 'DZ-1'", timeout=20_000
    )
    assert ranking_ids(board) == ["DZ-1", "DZ-2"]
    assert board.inner_text("[data-as-of]") != as_of  # the live poll brought the refresh's time along
    sup.reload()
    assert sup.inner_text("dd.status") == "撤销"
    # The other pages, for the record (and the screenshots).
    for path, name, text in [
        ("/cases/CASE-A", "case", "计时"),
        ("/departments/DZ-1", "department", "达州市通川区"),
        ("/staff/s-1", "staff", "张三"),
        ("/bulletins", "bulletins", "bulletin-2026-06"),
    ]:
        response = sup.goto(base + path)
        assert response is not None and response.status == 200, path
        assert text in sup.inner_text("main"), path
        assert sup.locator("svg.chart").count() == (1 if name in ("department", "staff") else 0), path
        shots(sup, name)
    # The department page compares its staff fairly (expected cards for their case mix), beside their scores.
    sup.goto(base + "/departments/DZ-1")
    staff_fair = sup.inner_text("#fair")
    assert "本部门工作人员的公平比较（参考）" in staff_fair and "暂不可用" not in staff_fair
    assert "张三" in sup.inner_text("#fair tr[data-fair='s-1']")
    assert sup.locator("#fair").count() == 1 and "公平" not in sup.title()
    bulletin = sup.request.get(base + "/bulletins/bulletin-2026-06.pdf")
    assert bulletin.status == 200 and bulletin.body()[:5] == b"%PDF-"
    # Every log-in and action is audited (the console's own records and the API's behind them).
    actions = {(r[0], r[1]) for r in ch.execute("SELECT actor_id, action FROM audit_log")}
    assert {
        ("dz1", "console:login"),
        ("dz1", "console:respond"),
        ("dz1", "respond"),
        ("sup-dazhou", "console:login"),
        ("sup-dazhou", "console:decide"),
        ("sup-dazhou", "decide"),
    } <= actions
    # Log-out ends the session.
    clerk.click("text=退出")
    assert clerk.url == base + "/login"
    clerk.goto(base + "/inbox")
    assert clerk.url.startswith(base + "/login")
    assert ("dz1", "console:logout") in {(r[0], r[1]) for r in ch.execute("SELECT actor_id, action FROM audit_log")}


def test_other_department_gets_403_and_pages_for_charts(
    chromium: Any, console: dict[str, Any], shots: Callable[[Any, str], None]
) -> None:
    base = console["base"]
    other = log_in(chromium, base, "dz2")
    for path in (
        f"/findings/{Y1.finding_id}",
        "/cases/CASE-A",
        "/departments/DZ-1",
        "/staff/s-1",
        f"/findings/{Y1.finding_id}/dossier.pdf",
    ):
        response = other.goto(base + path)
        assert response is not None and response.status == 403, path
        assert "无权访问" in other.inner_text("h1")
    shots(other, "forbidden")
    assert other.goto(f"{base}/findings/{Y3.finding_id}").status == 200  # its own card
    mine = other.goto(base + "/departments/DZ-2")
    assert mine is not None and mine.status == 200 and other.locator("svg.chart").count() == 1


def test_form_post_without_the_csrf_token_is_refused(
    chromium: Any, console: dict[str, Any], kafka_bootstrap: str
) -> None:
    base = console["base"]
    clerk = log_in(chromium, base, "dz1", f"/findings/{Y2.finding_id}")
    token = clerk.get_attribute("input[name=csrf]", "value")
    form = {"kind": "explanation", "text": "伪造的回告"}
    url = f"{base}/findings/{Y2.finding_id}/respond"
    for sent in ({}, {"csrf": "forged"}):
        refused = clerk.request.post(url, form=form | sent, max_redirects=0)
        assert refused.status == 403 and "CSRF" in refused.text()
    assert read_all(kafka_bootstrap, console["topics"]["responses"]) == []  # nothing reached the API
    # Log-in needs the token too (a forged log-in form cannot sign a victim into the attacker's account).
    anonymous = chromium.new_context().new_page()
    anonymous.goto(base + "/login")
    assert (
        anonymous.request.post(base + "/login", form={"username": "dz1", "password": PASSWORD}, max_redirects=0).status
        == 403
    )
    # The same form with the session's token goes through.
    accepted = clerk.request.post(url, form=form | {"csrf": token or "", "key": "k1"}, max_redirects=0)
    assert accepted.status == 303
    assert len(read_all(kafka_bootstrap, console["topics"]["responses"])) == 1
    # Idle for longer than the limit: the session is over.
    NOW[0] = t(2026, 6, 4, 10, 31)
    clerk.goto(base + "/inbox")
    assert clerk.url.startswith(base + "/login?next=")
