"""`esup topics create`: the platform's Kafka topics, created or checked against the settings."""

from __future__ import annotations

import click

from esup.params import cli_settings as _settings


@click.group()
def topics() -> None:
    """The platform's Kafka topics (names and partitions from ESUP_TOPIC_*, ESUP_CASE_EVENTS_PARTITIONS)."""


@topics.command("create")
@click.option(
    "--bootstrap",
    default=None,
    help="Kafka bootstrap servers (default: ESUP_KAFKA_BOOTSTRAP_SERVERS or the local broker)",
)
@click.option("--timeout", "timeout_s", default=30.0, show_default=True, help="seconds to wait for the broker")
def topics_create(bootstrap: str | None, timeout_s: float) -> None:
    """Create the missing topics; existing ones are kept and any difference from the settings is reported.

    Exit code 1 when an existing topic differs (partitions or policy): changing it is a person's decision.
    """
    from esup.kafka_auth import ADMIN, kafka_python_auth
    from esup.topics import admin_client, ensure_topics, platform_topics, quiet_kafka_logging

    s = _settings()
    quiet_kafka_logging()
    server = bootstrap or s.kafka_bootstrap
    try:
        with admin_client(server, timeout_ms=int(timeout_s * 1000), auth=kafka_python_auth(s, ADMIN)) as admin:
            results = ensure_topics(admin, platform_topics(s))
    except Exception as exc:  # the admin client raises many kinds; all mean the same here
        raise click.ClickException(f"Kafka at {server}: {type(exc).__name__}: {exc}") from None
    for r in results:
        policies = " ".join(f"{k}={v}" for k, v in sorted(r.spec.configs.items()))
        click.echo(
            f"{'created' if r.created else 'exists ':<8} {r.spec.name:<24} {r.partitions:>3} partitions  {policies}"
        )
        for d in r.drift:
            click.echo(f"  ! {r.spec.name}: {d}", err=True)
    if any(r.drift for r in results):
        raise click.ClickException(
            "existing topics differ from the settings (see above); alter or recreate them deliberately"
        )
