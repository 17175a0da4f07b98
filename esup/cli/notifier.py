"""`esup notifier run|receivers|deliveries`: 预警推送 to staff, heads and bureaus, and local receivers."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType

import click

from esup.params import cli_settings as _settings

_CONFIG = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("notifier")
def notifier_group() -> None:
    """Notifications of findings (预警推送): email, signed webhook and SMS, routed by esup/config/notifier.yaml.

    \b
      esup notifier run                                  # its own consumer group, until SIGTERM
      esup notifier receivers --out .esup/inbox          # a local SMTP server and webhook/SMS endpoint
      esup notifier deliveries                           # the ledger: deliveries per channel and state
    """


def _key(secret_file: Path | None, config_file: Path | None) -> bytes:
    from notifier.config import load_config, read_secret_file

    path = secret_file or load_config(config_file).channels.webhook.secret_file
    if path is not None:
        return read_secret_file(path)
    return _settings().notifier_webhook_secret.get_secret_value().encode()


@notifier_group.command("run")
@click.option("--config", "config_file", type=_CONFIG, default=None, help="routing (default esup/config/notifier.yaml)")
@click.option("--webhook-secret-file", type=_CONFIG, default=None, help="HMAC key file (0600) for the webhook")
@click.option(
    "--loglevel",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
)
def run(config_file: Path | None, webhook_secret_file: Path | None, loglevel: str) -> None:
    """Consume findings (read_committed) and deliver each (finding, card, recipient, channel) once."""
    from directory.clickhouse import sync
    from directory.feed import DirectoryFeed
    from esup.kafka_auth import NOTIFIER, kafka_python_auth
    from esup.topics import quiet_kafka_logging
    from notifier.channels import Channel, EmailChannel, SmsChannel, WebhookChannel
    from notifier.config import NotifierConfigError, load_config
    from notifier.ledger import Ledger
    from notifier.service import Notifier
    from sinks.clickhouse import connect

    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_kafka_logging()
    s = _settings()
    try:
        config = load_config(config_file)
        channels: dict[str, Channel] = {}
        if config.channels.email.enabled:
            channels["email"] = EmailChannel(config.channels.email, s.notifier_smtp_password.get_secret_value())
        if config.channels.webhook.enabled:
            channels["webhook"] = WebhookChannel(config.channels.webhook, _key(webhook_secret_file, config_file))
        if config.channels.sms.enabled:
            channels["sms"] = SmsChannel(config.channels.sms)
    except (NotifierConfigError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    # Both read back what they wrote (the delivery ledger, the directory): the service role.
    ledger_client, directory_client = connect(s, role="service"), connect(s, role="service")
    feed = DirectoryFeed(s.kafka_bootstrap, s.topic_directory, auth=kafka_python_auth(s, NOTIFIER)).start()
    notifier = Notifier(
        bootstrap=s.kafka_bootstrap,
        auth=kafka_python_auth(s, NOTIFIER),
        topic=s.topic_findings,
        group=s.notifier_group,
        config=config,
        channels=channels,
        ledger=Ledger(ledger_client),
        feed=feed,
        sync_directory=lambda index: sync(directory_client, index),
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    click.echo(
        f"esup notifier: {s.topic_findings} as {s.notifier_group}, channels {', '.join(sorted(channels))}", err=True
    )
    try:
        notifier.run(stop)
    finally:
        feed.stop()
    click.echo(f"esup notifier stopped: {notifier.counts}", err=True)


@notifier_group.command("receivers")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="folder for mail.jsonl, webhook.jsonl and sms.jsonl",
)
@click.option("--smtp-port", type=click.IntRange(1, 65535), default=8025, show_default=True)
@click.option("--http-port", type=click.IntRange(1, 65535), default=8026, show_default=True)
@click.option("--webhook-secret-file", type=_CONFIG, default=None, help="HMAC key file (0600) to verify with")
def receivers(out: Path, smtp_port: int, http_port: int, webhook_secret_file: Path | None) -> None:
    """Run a local SMTP server and an HTTP webhook/SMS endpoint until SIGTERM (for `make up` and drills)."""
    from notifier.receivers import HttpReceiver, SmtpReceiver

    try:
        key = _key(webhook_secret_file, None)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    smtp = SmtpReceiver(out, smtp_port).start()
    http = HttpReceiver(out, http_port, key).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    click.echo(
        f"receivers: SMTP 127.0.0.1:{smtp_port}, HTTP 127.0.0.1:{http_port} (/webhook, /sms); into {out}", err=True
    )
    stop.wait()
    smtp.stop()
    http.stop()


@notifier_group.command("deliveries")
def deliveries() -> None:
    """Deliveries per channel and latest state, from the ClickHouse ledger."""
    from sinks.clickhouse import connect

    s = _settings()
    try:
        rows = connect(s, role="reader").execute(
            "SELECT channel, state, count() FROM (SELECT delivery_id, any(channel) AS channel, argMax(status, seq) "
            "AS state FROM notification_deliveries GROUP BY delivery_id) GROUP BY channel, state ORDER BY channel, "
            "state"
        )
    except Exception as exc:
        raise click.ClickException(f"ClickHouse: {type(exc).__name__}: {exc} (has `esup db migrate` run?)") from None
    for channel, state, n in rows:
        click.echo(f"{channel:<8} {state:<9} {n}")
    if not rows:
        click.echo("no deliveries yet")
