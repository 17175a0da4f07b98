"""A console on real Kafka and ClickHouse for the browser tests and the benchmark: served by uvicorn in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn

from api.app import Services
from api.audit import Auditor
from api.auth import Authenticator, Role, User, hash_password
from api.directory import YamlDirectory
from api.store import FindingsReader, Publisher
from console.app import Console, create_console
from console.queries import PerThread
from console.session import SessionConfig
from loop.config import LoopConfig
from schemas.catalog import load_catalog
from streams.rules.calendar import WorkCalendar
from tests.ports import free_port

PASSWORD = "correct horse battery staple"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def users() -> dict[str, User]:
    h = hash_password(PASSWORD)
    return {
        u.username: u
        for u in [
            User(username="dz1", password_hash=h, role=Role.department, department_id="DZ-1"),
            User(username="dz2", password_hash=h, role=Role.department, department_id="DZ-2"),
            User(username="sup-dazhou", password_hash=h, role=Role.supervisor, region_code="511700"),
        ]
    }


def console_app(
    connect: Callable[[], Any],
    producer: Any,
    topics: dict[str, str],
    now: Callable[[], datetime],
    bulletins: Path | None = None,
    poll_s: float = 1.0,
) -> Any:
    services = Services(
        auth=Authenticator(users(), b"0123456789abcdef-test"),
        findings=FindingsReader(PerThread(connect)),
        publisher=Publisher(producer, topics["responses"]),
        auditor=Auditor(connect(), producer, topics["audit"]),
        loop=LoopConfig(),
        directory=YamlDirectory.load("tests/fixtures/directory.yaml"),
        now=now,
    )
    return create_console(
        Console(
            services,
            WorkCalendar(),
            load_catalog("examples/catalog.yaml"),
            SessionConfig("test-session-secret-0123456789", secure=False),
            bulletins=bulletins,
            poll_s=poll_s,
        )
    )


@contextmanager
def serve(app: Any) -> Iterator[str]:
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)
