"""`esup api serve` as a process on the SCRAM stack: the public form and the hotline publish to esup.complaints as
esup-api (its ACL rows), sealed; the desk's tail reads the topic back as esup-api; the key files are 0600."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from directory.model import dump_directory
from esup.cli.api_users import ensure_users
from sim.directory import build_directory
from sim.province import build_province
from tests.integration.pipeline import Pipeline, wait_until
from tests.integration.test_api_process import _answers, _login
from tests.ports import free_port

pytestmark = pytest.mark.integration
NAME, PHONE = "欧阳娜娜", "13987654321"


@pytest.fixture
def pipeline(
    kafka_bootstrap: str, clickhouse_url: str, kafka_admin: Any, clickhouse_client: Any, tmp_path: Path
) -> Iterator[Pipeline]:
    p = Pipeline(kafka_bootstrap, clickhouse_url, tmp_path / "pipeline", partitions=2)
    p.topics["complaints"] = f"test.{p.tag}.complaints"  # made, granted (access bootstrap) and deleted with the rest
    p.env["ESUP_TOPIC_COMPLAINTS"] = p.topics["complaints"]
    p.workdir.mkdir(parents=True)
    p.esup("topics", "create")
    p.esup("db", "migrate")
    yield p
    p.close(kafka_admin, clickhouse_client)


def test_api_serve_takes_complaints_as_esup_api(pipeline: Pipeline, tmp_path: Path) -> None:
    p = pipeline
    home = Path(p.env["ESUP_HOME"])
    directory = build_directory(build_province(1, 1, 1), 1)
    path = dump_directory(directory, tmp_path / "directory.yaml")
    users = ensure_users(home, path)
    passwords = json.loads(users.with_name("passwords.json").read_text())
    dept = directory.departments[-1]
    bureau = next(b for b in directory.bureaus if dept.region_code.startswith(b.region_code[:4]))
    token = p.esup("complaints", "hotline-token", "add", "12345-test").stdout.strip()
    port = free_port()
    p.start("api", "api", "serve", "--users", str(users), "--directory", str(path), "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(base), timeout=60, what="the API to answer")
    with httpx.Client(base_url=base, timeout=10) as http:
        page = http.get("/complaints/form")
        assert page.status_code == 200 and dept.id in page.text  # the directory's departments to choose from
        form_token = re.search(r'name="form_token" value="([^"]+)"', page.text)
        assert form_token is not None
        sent = http.post(
            "/complaints/form",
            data={
                "form_token": form_token.group(1),
                "category": "fees",
                "department_id": dept.id,
                "name": NAME,
                "phone": PHONE,
                "text": f"收费没有依据，也不开发票。联系电话 {PHONE}。",
            },
        )
        receipt = re.search(r'id="complaint-id">([^<]+)<', sent.text)
        assert sent.status_code == 200 and receipt is not None, sent.text
        hot = http.post(
            "/complaints/hotline",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "ticket_id": "T-1",
                "category": "attitude",
                "text": "态度恶劣",
                "department_id": dept.id,
                "caller": {"name": NAME, "phone": PHONE},
            },
        )
        assert hot.status_code == 202, hot.text
        sup = _login(http, f"jc-{bureau.region_code}", passwords)
        # The desk's view is the topic read back by the same process, as esup-api.
        seen = wait_until(
            lambda: (lambda r: r if len(r) == 2 else None)(http.get("/complaints", headers=sup).json()),
            timeout=30,
            what="both complaints on the desk",
        )
        assert {x["complaint_id"] for x in seen} == {receipt.group(1), hot.json()["complaint_id"]}
        one = http.get(f"/complaints/{receipt.group(1)}", headers=sup).json()
        assert one["complainant"]["phone"] == PHONE and one["complainant"]["name"] == NAME
        status = http.get("/complaints/status", params={"id": receipt.group(1)})
        assert 'id="status">待登记<' in status.text  # the citizen's look-up: the status, nothing else
        clerk = _login(http, f"u-{dept.id}", passwords)
        assert http.get(f"/complaints/{receipt.group(1)}", headers=clerk).status_code == 403  # not dispatched yet
    records = [r.value for r in p.read("complaints")]
    assert len(records) == 2 and all(PHONE.encode() not in r and NAME.encode() not in r for r in records)
    for key in ("pii-keys.json", "form.key", "hotline-tokens.json"):
        assert stat.S_IMODE((home / "credentials" / "complaints" / key).stat().st_mode) == 0o600, key
    assert PHONE not in p.log("api")
