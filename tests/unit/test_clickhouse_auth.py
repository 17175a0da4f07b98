"""Each process's ClickHouse login by role: 0600 password files, the env override, and the stack's users.xml."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from esup.clickhouse_auth import ROLES, USERS, CredentialError, ensure_passwords, password_path, sha256_hex
from esup.settings import Settings, load_settings
from esup.stack.clickhouse import ClickHouseLauncher


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in [k for k in os.environ if k.startswith("ESUP_CLICKHOUSE")]:
        monkeypatch.delenv(name)  # whatever stack this shell points at is not under test
    return load_settings(_env_file=None, home=tmp_path / ".esup")


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_passwords_are_generated_once_owner_only_and_distinct(settings: Settings) -> None:
    first = ensure_passwords(settings)
    assert ensure_passwords(settings) == first  # kept, not regenerated
    assert len(set(first.values())) == len(ROLES) and all(len(p) >= 32 for p in first.values())
    directory = settings.home / "credentials" / "clickhouse"
    assert mode(directory) == 0o700
    for role in ROLES:
        assert password_path(settings, role) == directory / f"{USERS[role]}.password"
        assert mode(password_path(settings, role)) == 0o600


def test_each_role_logs_in_as_its_own_user(settings: Settings) -> None:
    passwords = ensure_passwords(settings)
    for role in ROLES:
        assert settings.clickhouse_login(role) == (USERS[role], passwords[role])
        assert settings.clickhouse_url("esup", role=role).startswith(f"clickhouse://{USERS[role]}:")
    # No role: the configured user, as before (docker-compose and CLICKHOUSE_URL set it).
    assert settings.clickhouse_url("x") == "clickhouse://default@127.0.0.1:9000/x"
    with pytest.raises(ValueError, match="unknown ClickHouse role 'root'"):
        settings.clickhouse_login("root")


def test_an_explicit_user_or_password_wins_over_the_files(settings: Settings) -> None:
    ensure_passwords(settings)
    given = settings.model_copy(update={"clickhouse_user": "ops", "clickhouse_password": SecretStr("p w")})
    assert given.clickhouse_login("reader") == ("ops", "p w")
    assert given.clickhouse_url("esup", role="sink") == "clickhouse://ops:p%20w@127.0.0.1:9000/esup"


def test_without_files_the_configured_user_is_used(settings: Settings) -> None:
    # A server set up before the roles existed keeps working until `esup stack up` writes the users.
    assert settings.clickhouse_login("reader") == ("default", "")


def test_a_password_file_readable_by_others_is_refused(settings: Settings) -> None:
    ensure_passwords(settings)
    os.chmod(password_path(settings, "reader"), 0o644)
    with pytest.raises(CredentialError, match=r"readable by others \(mode 0o644\)"):
        settings.clickhouse_login("reader")


def test_stack_users_xml_is_owner_only_with_hashes_not_passwords(settings: Settings) -> None:
    launcher = ClickHouseLauncher(settings)
    launcher.users.parent.mkdir(parents=True)
    launcher.users.write_text("old, world-readable")
    os.chmod(launcher.users, 0o644)
    launcher.write_users()
    text = launcher.users.read_text()
    assert mode(launcher.users) == 0o600
    passwords = ensure_passwords(settings)
    for role, password in passwords.items():
        assert password not in text
        user = re.search(rf"<{USERS[role]}>(.*?)</{USERS[role]}>", text, re.S)
        assert user is not None and f"<password_sha256_hex>{sha256_hex(password)}</password_sha256_hex>" in user[1]
    assert "<password>" not in text  # no plain-text password, not even an empty one
    default = re.search(r"<default>\s*<password_sha256_hex>([0-9a-f]{64})<", text)
    assert default is not None and default[1] not in {sha256_hex(p) for p in passwords.values()}
    assert sha256_hex("") != default[1]


def test_readonly_and_allowed_databases_per_role(settings: Settings) -> None:
    launcher = ClickHouseLauncher(settings)

    def block(user: str) -> str:
        found = re.search(rf"<{user}>(.*?)</{user}>", launcher.users.read_text(), re.S)
        assert found is not None
        return found[1]

    launcher.write_users()
    assert "<profile>reader</profile>" in block("esup_reader")
    assert "<profile>default</profile>" in block("esup_sink")
    assert "allow_databases" not in block("esup_admin")  # the admin migrates the tests' databases too
    for user in ("esup_sink", "esup_service", "esup_reader"):
        assert "<allow_databases><database>esup</database></allow_databases>" in block(user)
    assert launcher.allow_databases(["esup_test_a1", "esup"]) == ["esup_test_a1"]
    assert launcher.allow_databases(["esup_test_a1"]) == []
    assert mode(launcher.databases_file) == 0o600
    assert "<database>esup</database><database>esup_test_a1</database>" in block("esup_reader")
    launcher.disallow_databases(["esup_test_a1", "esup"])
    assert launcher.databases() == ["esup"]
    assert "esup_test_a1" not in block("esup_reader")
    with pytest.raises(ValueError, match="not database names"):
        launcher.allow_databases(["x</database><database>system"])
