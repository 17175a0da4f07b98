"""Local receivers for `make up` and the tests: an SMTP server (aiosmtpd) and an HTTP webhook/SMS endpoint.

Each writes what it accepted as one JSON line (mail.jsonl, webhook.jsonl, sms.jsonl) before answering, so
what a person or a test reads is what the notifier was told was accepted. The webhook endpoint checks the
HMAC signature and answers 401 to a bad one; it records duplicates (same X-Esup-Delivery) but marks them.
"""

from __future__ import annotations

import json
import threading
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from notifier.channels import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify


class _Log:
    """Append-only JSON lines with an in-memory copy, safe across the receivers' threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def add(self, row: dict[str, Any]) -> None:
        with self.lock:
            self.rows.append(row)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")

    def seen(self, key: str, field: str = "delivery") -> bool:
        with self.lock:
            return any(r.get(field) == key for r in self.rows)


class _MailHandler:
    def __init__(self, log: _Log) -> None:
        self.log = log

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content, policy=policy.default)
        self.log.add(
            {
                "delivery": str(msg.get(DELIVERY_HEADER, "")),
                "message_id": str(msg.get("Message-ID", "")),
                "to": list(envelope.rcpt_tos),
                "from": envelope.mail_from,
                "subject": str(msg.get("Subject", "")),
            }
        )
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """aiosmtpd in a thread; stop() and start() again to simulate an outage."""

    def __init__(self, out: Path, port: int, host: str = "127.0.0.1") -> None:
        self.log = _Log(out / "mail.jsonl")
        self.host, self.port = host, port
        self._controller: Any = None

    def start(self) -> SmtpReceiver:
        """Start the SMTP server in its own thread; returns self."""
        from aiosmtpd.controller import Controller

        self._controller = Controller(_MailHandler(self.log), hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop the SMTP server; ``start`` serves again on the same port."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class HttpReceiver:
    """POST /webhook (HMAC checked) and POST /sms, on one port."""

    def __init__(self, out: Path, port: int, key: bytes, host: str = "127.0.0.1") -> None:
        self.webhooks = _Log(out / "webhook.jsonl")
        self.sms = _Log(out / "sms.jsonl")
        self.rejected = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
                delivery = self.headers.get(DELIVERY_HEADER, "")
                if self.path == "/webhook":
                    ok = verify(
                        key, self.headers.get(TIMESTAMP_HEADER, ""), self.headers.get(SIGNATURE_HEADER, ""), body
                    )
                    if not ok:
                        receiver.rejected += 1
                        self._answer(401)
                        return
                    dup = receiver.webhooks.seen(delivery)
                    receiver.webhooks.add({"delivery": delivery, "duplicate": dup, "body": json.loads(body)})
                elif self.path == "/sms":
                    receiver.sms.add(
                        {"delivery": delivery, "duplicate": receiver.sms.seen(delivery), "body": json.loads(body)}
                    )
                else:
                    self._answer(404)
                    return
                self._answer(200)

            def _answer(self, code: int) -> None:
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # quiet: the JSON lines are the log
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="http-receiver", daemon=True)

    def start(self) -> HttpReceiver:
        """Serve in a daemon thread; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()
