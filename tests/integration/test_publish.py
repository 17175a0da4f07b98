"""Department-side publishing on a real broker: `esup publish` and `esup catalog publish`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from esup.producer import DepartmentProducer, read_compacted
from schemas.catalog import CatalogItem, load_catalog
from schemas.events import EventError, event_to_json, occurred_sort_key, parse_event
from tests.support import admin_auth, grant_platform

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record of a topic, from the beginning to its current end."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, **admin_auth())
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        out: list[Any] = []
        while any(consumer.position(tp) < end[tp] for tp in tps):
            for records in consumer.poll(timeout_ms=500).values():
                out.extend(records)
        return out
    finally:
        consumer.close(autocommit=False)


def _env(bootstrap: str, **topics: str) -> dict[str, str]:
    from esup.settings import load_settings

    # `esup publish` and `esup catalog publish` log in as the bridge and the catalog publisher: grant them
    # this test's topics, as `esup access bootstrap` grants the configured ones.
    grant_platform(load_settings(kafka_bootstrap_servers=bootstrap, **{f"topic_{k}": v for k, v in topics.items()}))
    return {"ESUP_KAFKA_BOOTSTRAP_SERVERS": bootstrap, **{f"ESUP_TOPIC_{k.upper()}": v for k, v in topics.items()}}


@pytest.mark.parametrize("sort_by_time", [False, True])
def test_publish_sends_every_example_event_keyed_by_case(
    kafka_bootstrap: str, new_topic: Callable[..., str], sort_by_time: bool
) -> None:
    from esup.cli import main

    topic = new_topic(partitions=6, prefix="case-events")
    lines = (EXAMPLES / "events.jsonl").read_bytes().splitlines()
    events = [parse_event(line) for line in lines if line.strip()]
    args = ["publish", str(EXAMPLES / "events.jsonl")] + (["--sort-by-time"] if sort_by_time else [])

    result = CliRunner().invoke(main, args, env=_env(kafka_bootstrap, case_events=topic))

    assert result.exit_code == 0, result.output
    cases = {e.case_id for e in events}
    assert f"sent {len(events)} events ({len(cases)} cases) to {topic}; rejected 0 lines" in result.output
    got = read_topic(kafka_bootstrap, topic)
    assert sorted(r.value for r in got) == sorted(event_to_json(e).encode() for e in events)
    assert all(r.key == parse_event(r.value).case_id.encode() for r in got)
    # One partition per case, in file order (or event-time order when asked).
    for case in cases:
        mine = sorted((r for r in got if r.key == case.encode()), key=lambda r: r.offset)
        assert len({r.partition for r in mine}) == 1
        expected = [e for e in events if e.case_id == case]
        if sort_by_time:
            expected.sort(key=occurred_sort_key)
        assert [parse_event(r.value).event_id for r in mine] == [e.event_id for e in expected]


def test_publish_reports_rejected_lines_and_sends_the_good_ones(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    from esup.cli import main

    topic = new_topic(partitions=3, prefix="case-events")
    good = [line for line in (EXAMPLES / "events.jsonl").read_text(encoding="utf-8").splitlines() if line][:3]
    missing = json.loads(good[0])
    del missing["staff_id"]
    missing["event_id"] = "X-missing"
    naive = {**json.loads(good[1]), "event_id": "X-naive", "occurred_at": "2026-03-02T09:10:00"}
    path = tmp_path / "events.jsonl"
    path.write_text(
        "\n".join([good[0], "{not json", json.dumps(missing), "", good[1], json.dumps(naive), good[2]]) + "\n",
        encoding="utf-8",
    )

    result = CliRunner().invoke(main, ["publish", str(path)], env=_env(kafka_bootstrap, case_events=topic))

    assert result.exit_code == 1
    assert f"{path}:2: rejected: <event>: invalid JSON" in result.stderr
    assert f"{path}:3: rejected: staff_id: Field required" in result.stderr
    assert f"{path}:6: rejected: occurred_at:" in result.stderr
    assert f"{path}:5:" not in result.stderr and f"{path}:4:" not in result.stderr
    assert "sent 3 events" in result.stdout and "rejected 3 lines" in result.stdout
    got = read_topic(kafka_bootstrap, topic)
    assert sorted(parse_event(r.value).event_id for r in got) == sorted(json.loads(g)["event_id"] for g in good)


def test_the_producer_refuses_an_invalid_event_before_it_leaves(
    kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=1, prefix="case-events")
    first = (EXAMPLES / "events.jsonl").read_text(encoding="utf-8").splitlines()[0]
    with DepartmentProducer(kafka_bootstrap, topic, auth=admin_auth()) as producer:
        with pytest.raises(EventError, match="region_code"):
            producer.send({**json.loads(first), "region_code": "999"})
        meta = producer.send(first.encode()).get(timeout=30)
    assert meta.offset == 0
    (record,) = read_topic(kafka_bootstrap, topic)
    assert record.key == json.loads(first)["case_id"].encode()


def test_publish_to_a_missing_topic_says_so(kafka_bootstrap: str) -> None:
    from esup.cli import main

    result = CliRunner().invoke(
        main, ["publish", str(EXAMPLES / "events.jsonl")], env=_env(kafka_bootstrap, case_events="test.no-such-topic")
    )
    assert result.exit_code == 1 and "test.no-such-topic does not exist" in result.output


def test_catalog_publish_writes_every_item_and_tombstones_removed_ones(
    kafka_bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    from esup.cli import main

    topic = new_topic(partitions=1, prefix="catalog", cleanup_policy="compact")
    env = _env(kafka_bootstrap, catalog=topic)
    catalog = load_catalog(EXAMPLES / "catalog.yaml")
    codes = [i.code for i in catalog.items]
    runner = CliRunner()

    first = runner.invoke(main, ["catalog", "publish", str(EXAMPLES / "catalog.yaml")], env=env)
    assert first.exit_code == 0, first.output
    assert f"published {len(codes)} items" in first.output and "deleted" not in first.output
    latest = read_compacted(kafka_bootstrap, topic, auth=admin_auth())
    assert set(latest) == {c.encode() for c in codes}
    for item in catalog.items:  # the value is exactly what the workers' LiveCatalog parses
        value = latest[item.code.encode()]
        assert value is not None and CatalogItem.model_validate_json(value) == item

    removed = codes[1]
    data = yaml.safe_load((EXAMPLES / "catalog.yaml").read_text(encoding="utf-8"))
    data["items"] = [i for i in data["items"] if i["code"] != removed]
    smaller = tmp_path / "catalog.yaml"
    smaller.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    second = runner.invoke(main, ["catalog", "publish", str(smaller)], env=env)
    assert second.exit_code == 0, second.output
    assert f"deleted {removed}" in second.output

    records = read_topic(kafka_bootstrap, topic)
    last = {r.key: r.value for r in sorted(records, key=lambda r: r.offset)}
    assert last[removed.encode()] is None  # a tombstone
    assert all(last[c.encode()] is not None for c in codes if c != removed)
    assert len(records) == 2 * len(codes)  # every item written each time, plus the one tombstone

    third = runner.invoke(main, ["catalog", "publish", str(smaller)], env=env)
    assert third.exit_code == 0 and "deleted" not in third.output  # a tombstoned item stays deleted


def test_catalog_publish_refuses_an_invalid_catalog(kafka_bootstrap: str, tmp_path: Path) -> None:
    from esup.cli import main

    bad = tmp_path / "catalog.yaml"
    bad.write_text(
        "items:\n  - {code: A, name: x, department_id: D}\n  - {code: A, name: y, department_id: D}\n", encoding="utf-8"
    )
    result = CliRunner().invoke(
        main, ["catalog", "publish", str(bad)], env=_env(kafka_bootstrap, catalog="test.unused")
    )
    assert result.exit_code == 1 and "duplicate item code A" in result.output
