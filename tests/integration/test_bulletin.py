"""`esup bulletin` on the real ClickHouse: the PDF and HTML carry the month's ranking in the views' order."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from esup.cli import main
from esup.stack.servers import Provided
from tests.integration.analytics_db import cli_env, fresh_database, insert, refresh_board
from tests.integration.test_rankings import fixture_rows, ranking

pytestmark = pytest.mark.integration

DB = "esup_test_bulletin"


ENV: dict[str, str] = {}


@pytest.fixture(scope="module")
def client(clickhouse_server: Provided) -> Iterator[Any]:
    ENV.update(cli_env(clickhouse_server.address))
    c = fresh_database(clickhouse_server.address, DB)
    for table, rows in fixture_rows().items():
        insert(c, table, rows)
    refresh_board(c)  # the bulletin reads the scoreboard
    yield c
    c.disconnect()


def run_bulletin(tmp_path: Path, *args: str) -> tuple[Path, Path]:
    result = CliRunner().invoke(
        main, ["bulletin", "--month", "2026-06", "--database", DB, "--out", str(tmp_path), *args], env=ENV
    )
    assert result.exit_code == 0, result.output
    stem = "bulletin-2026-06" + (f"-{args[1]}" if args else "")
    return tmp_path / f"{stem}.html", tmp_path / f"{stem}.pdf"


class Rows(HTMLParser):
    """The cells of each row of the table with the given class."""

    def __init__(self, cls: str) -> None:
        super().__init__()
        self.cls, self.inside = cls, False
        self.rows: list[list[str]] = []
        self.cell: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and ("class", self.cls) in attrs:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(self.cell)
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell += data


def table(page: Path, cls: str) -> list[list[str]]:
    parser = Rows(cls)
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.rows


def test_the_html_ranks_departments_as_the_views_do_with_each_headings_deduction(client: Any, tmp_path: Path) -> None:
    page, _ = run_bulletin(tmp_path)
    rows = table(page, "departments")
    expected = ranking(client, "province", "510000", columns="rank, department_id, score")
    assert [(int(r[0]), r[1], float(r[2])) for r in rows[1:]] == [(a, b, float(c)) for a, b, c in expected]
    heads = rows[0]
    # CD-2: time yellow 5 + red 10 capped at 14; procedure yellow 5 (the fixture's hand-worked figures)
    cd2 = next(r for r in rows[1:] if r[1] == "CD-2")
    assert cd2[heads.index("时限扣分")] == "14" and cd2[heads.index("程序扣分")] == "5"
    worst = table(page, "worst")
    assert [r[1] for r in worst[1:]] == ["X4"] and "<svg" in page.read_text(encoding="utf-8")


def test_a_region_bulletin_keeps_to_its_region(client: Any, tmp_path: Path) -> None:
    page, _ = run_bulletin(tmp_path, "--region", "510100")
    assert sorted(r[1] for r in table(page, "departments")[1:]) == ["CD-1", "CD-2"]


def test_the_pdf_holds_the_ranking_table_in_order_and_renders(client: Any, tmp_path: Path, need: Any) -> None:
    need(
        shutil.which("pdftotext") is not None and shutil.which("pdftoppm") is not None,
        "poppler-utils",
        "pdftotext/pdftoppm not on PATH (apt-get install poppler-utils)",
    )
    _, document = run_bulletin(tmp_path)
    text = subprocess.run(
        ["pdftotext", "-layout", str(document), "-"], capture_output=True, text=True, check=True
    ).stdout
    order = [d for _, d in ranking(client, "province", "510000", columns="rank, department_id")]
    lines = [ln.split() for ln in text.splitlines() if re.match(r"\s*\d+\s+(CD|DZ)-\d", ln)]
    assert [ln[1] for ln in lines[: len(order)]] == order
    assert "TIME_DECISION_RED" in text or "X4" in text
    subprocess.run(
        ["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", str(document), str(tmp_path / "page")], check=True
    )
    png = next(tmp_path.glob("page*.png"))
    assert grid_lines(png) >= len(order) + 2  # the table's ruled rows: header, one per department, the bottom


def grid_lines(png: Path) -> int:
    """Horizontal rules in the page: rows of pixels with a long dark-grey run (the table's grid)."""
    from PIL import Image

    img = Image.open(png).convert("L")
    w, h = img.size
    px = img.load()
    count, previous = 0, False
    for y in range(h):
        run = best = 0
        for x in range(w):
            run = run + 1 if px[x, y] < 200 else 0  # type: ignore[index,operator]
            best = max(best, run)
        line = best > w // 4
        count += line and not previous
        previous = line
    return count
