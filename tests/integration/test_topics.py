"""`esup topics create` on a real broker: idempotent, the configured partitions, compaction where it belongs."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from esup.settings import load_settings
from esup.topics import describe, platform_topics, topic_configs
from tests.support import kcat_login

pytestmark = pytest.mark.integration


@pytest.fixture
def topic_env(kafka_bootstrap: str, kafka_admin: Any) -> Iterator[dict[str, str]]:
    """ESUP_* settings that name a fresh set of platform topics on the session's broker; deleted afterwards."""
    run = uuid.uuid4().hex[:10]
    env = {
        "ESUP_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "ESUP_CASE_EVENTS_PARTITIONS": "4",
        **{
            f"ESUP_TOPIC_{name.upper()}": f"test.{run}.{name}"
            for name in (
                "case_events",
                "dead_letters",
                "findings",
                "case_snapshots",
                "catalog",
                "config",
                "ticks",
                "directory",
                "chain_heads",
                "responses",
                "audit",
                "applicant_facts",
                "complaints",
                "loop_ticks",
                "complaint_ticks",
            )
        },
    }
    yield env
    from esup.audit_writers import audit_topics
    from esup.settings import load_settings

    made = {v for k, v in env.items() if k.startswith("ESUP_TOPIC_")}
    made |= set(audit_topics(load_settings(topic_audit=env["ESUP_TOPIC_AUDIT"])))  # each writer's
    with contextlib.suppress(Exception):
        kafka_admin.delete_topics([t for t in made if t in set(kafka_admin.list_topics())])


def test_topics_create_is_idempotent_with_partitions_and_policies(topic_env: dict[str, str], kafka_admin: Any) -> None:
    from esup.cli import main

    runner = CliRunner()
    first = runner.invoke(main, ["topics", "create"], env=topic_env)
    second = runner.invoke(main, ["topics", "create"], env=topic_env)
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert first.output.count("created ") == 21  # 15, and each of the six audit writers' own topic
    assert second.output.count("exists ") == 21 and "created" not in second.output

    env = topic_env
    from esup.audit_writers import LEGACY, audit_topics
    from esup.settings import load_settings

    audit = audit_topics(load_settings(topic_audit=env["ESUP_TOPIC_AUDIT"]))
    writers = [t for t, w in audit.items() if w != LEGACY]
    assert len(writers) == 6 and all(t.startswith(env["ESUP_TOPIC_AUDIT"] + ".") for t in writers)
    partitions = describe(kafka_admin, [v for k, v in env.items() if k.startswith("ESUP_TOPIC_")] + writers)
    retention = {t: topic_configs(kafka_admin, t, ["retention.ms"])["retention.ms"] for t in audit}
    assert set(retention.values()) == {str(400 * 24 * 3600 * 1000)}  # as the shared audit topic's
    assert partitions == {
        **dict.fromkeys(writers, 1),
        env["ESUP_TOPIC_CASE_EVENTS"]: 4,
        env["ESUP_TOPIC_DEAD_LETTERS"]: 1,
        env["ESUP_TOPIC_FINDINGS"]: 4,
        env["ESUP_TOPIC_CASE_SNAPSHOTS"]: 4,
        env["ESUP_TOPIC_CATALOG"]: 1,
        env["ESUP_TOPIC_CONFIG"]: 1,
        env["ESUP_TOPIC_TICKS"]: 4,
        env["ESUP_TOPIC_DIRECTORY"]: 1,
        env["ESUP_TOPIC_CHAIN_HEADS"]: 1,
        env["ESUP_TOPIC_RESPONSES"]: 4,
        env["ESUP_TOPIC_AUDIT"]: 1,
        env["ESUP_TOPIC_APPLICANT_FACTS"]: 4,
        env["ESUP_TOPIC_COMPLAINTS"]: 4,
        env["ESUP_TOPIC_LOOP_TICKS"]: 1,  # one clock, one order
        env["ESUP_TOPIC_COMPLAINT_TICKS"]: 1,
    }
    policy = {name: topic_configs(kafka_admin, name, ["cleanup.policy"])["cleanup.policy"] for name in partitions}
    assert policy[env["ESUP_TOPIC_CASE_SNAPSHOTS"]] == "compact"
    assert policy[env["ESUP_TOPIC_CATALOG"]] == "compact"
    assert policy[env["ESUP_TOPIC_CONFIG"]] == "compact"  # every adoption stays (keyed by kind@moment)
    assert policy[env["ESUP_TOPIC_DIRECTORY"]] == "compact"
    assert policy[env["ESUP_TOPIC_CHAIN_HEADS"]] == "compact"
    for name in ("ESUP_TOPIC_CASE_EVENTS", "ESUP_TOPIC_TICKS"):  # the broker stamps receipt
        stamp = topic_configs(kafka_admin, env[name], ["message.timestamp.type"])["message.timestamp.type"]
        assert stamp == "LogAppendTime"
    assert policy[env["ESUP_TOPIC_CASE_EVENTS"]] == "delete"
    assert policy[env["ESUP_TOPIC_FINDINGS"]] == "delete"


def test_topics_create_reports_an_existing_topic_that_differs(topic_env: dict[str, str]) -> None:
    from esup.cli import main

    runner = CliRunner()
    assert runner.invoke(main, ["topics", "create"], env=topic_env).exit_code == 0
    changed = runner.invoke(main, ["topics", "create"], env={**topic_env, "ESUP_CASE_EVENTS_PARTITIONS": "5"})
    assert changed.exit_code == 1
    assert f"{topic_env['ESUP_TOPIC_CASE_EVENTS']}: 4 partitions, 5 configured" in changed.output
    assert "differ from the settings" in changed.output


def test_topics_create_without_a_broker_says_where_it_looked() -> None:
    from esup.cli import main

    result = CliRunner().invoke(
        main,
        ["topics", "create", "--bootstrap", "127.0.0.1:1", "--timeout", "2"],
        env={"ESUP_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"},
    )
    assert result.exit_code == 1
    assert "Kafka at 127.0.0.1:1" in result.output


def test_kcat_an_independent_client_sees_the_topics(
    topic_env: dict[str, str], kafka_bootstrap: str, need: Callable[[bool, str, str], None]
) -> None:
    """Debian's kcat (librdkafka) lists what kafka-python created: the broker is a real Kafka."""
    from esup.cli import main

    kcat = shutil.which("kcat")
    need(kcat is not None, "kcat", "not installed (apt-get install kcat)")
    assert kcat is not None
    assert CliRunner().invoke(main, ["topics", "create"], env=topic_env).exit_code == 0
    out = subprocess.run(
        [kcat, "-L", "-J", "-b", kafka_bootstrap, *kcat_login()], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    listed = {t["topic"]: len(t["partitions"]) for t in json.loads(out)["topics"]}
    s = load_settings(_env_file=None, **{k.removeprefix("ESUP_").lower(): v for k, v in topic_env.items()})
    for spec in platform_topics(s):
        assert listed.get(spec.name) == spec.partitions
