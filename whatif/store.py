"""A what-if stored as a named scenario in ClickHouse (migration 0060): its run, its changed findings and its
before/after scores, apart from every live table. Append-only; the latest run of a name is the scenario."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

from whatif.model import BEIJING
from whatif.report import dumps
from whatif.run import Result

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_name(name: str) -> str:
    """A scenario name: letters, digits, '_', '.', '-', at most 64 characters (it shows in Grafana's drop-down)."""
    if not NAME.match(name):
        raise ValueError(f"scenario name {name!r}: use letters, digits, '_', '.', '-' (at most 64 characters)")
    return name


def _finding(scenario: str, run_id: str, side: str, f: Any) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "run_id": run_id,
        "side": side,
        "finding_id": f.finding_id,
        "case_id": f.case_id,
        "rule": f.rule,
        "category": f.category,
        "severity": f.severity,
        "staff_id": f.staff_id,
        "department_id": f.department_id,
        "region_code": f.region_code,
        "detected_at": datetime.fromisoformat(f.detected_at).replace(tzinfo=BEIJING),
    }


def rows(name: str, result: Result, now: datetime) -> dict[str, list[dict[str, Any]]]:
    """The rows of each table for one stored run (its id: the report's hash and the time, so reruns differ)."""
    text = dumps(result.report)
    run_id = hashlib.sha256(f"{text}{now.isoformat()}".encode()).hexdigest()[:16]
    r, c = result.report, result.changes
    runs = [
        {
            "scenario": name,
            "run_id": run_id,
            "stored_at": now,
            "window_from": datetime.fromisoformat(r["window"]["from"]).date(),
            "window_to": datetime.fromisoformat(r["window"]["to"]).date(),
            "region": r["window"]["region"] or "",
            "changed": ",".join(r["configuration"]["changed"]),
            "baseline_ok": int(bool(r["check"]["ok"])),
            "findings_added": len(c.added),
            "findings_removed": len(c.removed),
            "findings_changed": len(c.changed),
            "report": text,
        }
    ]
    findings = [_finding(name, run_id, "added", f) for f in c.added]
    findings += [_finding(name, run_id, "removed", f) for f in c.removed]
    findings += [_finding(name, run_id, "changed", a) for _, a in c.changed]
    scores = []
    for kind, table in sorted(result.scores.items()):
        for (region, month, entity), (b, a) in sorted(table.items()):
            some = a or b
            if some is None:  # a key comes from one of the two sides
                continue
            scores.append(
                {
                    "scenario": name,
                    "run_id": run_id,
                    "kind": kind,
                    "period_start": month,
                    "region": region,
                    "entity_id": entity,
                    "department_id": some.department_id,
                    "score_before": b.score if b else None,
                    "score_after": a.score if a else None,
                    "rank_before": b.rank if b else 0,
                    "rank_after": a.rank if a else 0,
                }
            )
    return {"whatif_runs": runs, "whatif_findings": findings, "whatif_scores": scores}


def store(client: Any, name: str, result: Result, now: datetime | None = None) -> str:
    """Insert the scenario's rows (runs last, so a run row means its rows are there); returns the run id."""
    check_name(name)
    tables = rows(name, result, (now or datetime.now(BEIJING)).replace(microsecond=0))
    for table in ("whatif_findings", "whatif_scores", "whatif_runs"):
        batch = tables[table]
        if batch:
            cols = list(batch[0])
            client.execute(
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES", [tuple(r[c] for c in cols) for r in batch]
            )
    return str(tables["whatif_runs"][0]["run_id"])
