"""complaints.pii: phone and ID normalisation, the salted hash, AES-GCM seal/open by key id, the key file, redaction."""

from __future__ import annotations

import logging
import os
import stat

import pytest

from complaints.pii import (
    Contact,
    KeyFileError,
    Keyring,
    PiiError,
    install_log_redaction,
    mask_name,
    mask_phone,
    normalise_id_number,
    normalise_phone,
    redact,
)

ID = "11010519491231002X"  # the standard's own example, valid check character


@pytest.mark.parametrize(
    "raw", ["13812345678", "+86 138-1234-5678", "0086 13812345678", "86 138 1234 5678", "（138）1234 5678"]
)
def test_mobile_numbers_normalise_to_eleven_digits(raw: str) -> None:
    assert normalise_phone(raw) == "13812345678"


def test_landline_keeps_its_area_code() -> None:
    assert normalise_phone("028-8765 4321") == "02887654321"


@pytest.mark.parametrize("raw", ["", "12345", "23812345678", "1381234567", "138123456789", "abc", "8765 4321"])
def test_not_a_phone_is_refused_naming_the_field(raw: str) -> None:
    with pytest.raises(PiiError, match=r"^phone:"):
        normalise_phone(raw)


def test_id_number_check_character() -> None:
    assert normalise_id_number(ID.lower()) == ID
    with pytest.raises(PiiError, match=r"^id_number:"):
        normalise_id_number(ID[:-1] + "1")
    with pytest.raises(PiiError, match=r"^id_number:"):
        normalise_id_number("1234")


def test_round_trip_and_hash(tmp_path) -> None:
    ring = Keyring(tmp_path / "keys.json")
    c = Contact("张三丰", "13812345678", ID)
    sealed = ring.seal(c)
    assert set(sealed) == {"contact_hash", "sealed", "key_id"}
    assert len(sealed["contact_hash"]) == 64 and sealed["contact_hash"] == sealed["contact_hash"].lower()
    assert "13812345678" not in str(sealed) and "张三丰" not in str(sealed) and ID not in str(sealed)
    assert ring.open(**sealed) == c
    # the same phone in another spelling hashes the same (repeat complainants are matched)
    assert ring.contact_hash("+86 138 1234 5678") == sealed["contact_hash"]
    # a fresh nonce each time: two seals of one contact differ
    assert ring.seal(c)["sealed"] != sealed["sealed"]


def test_another_salt_gives_another_hash(tmp_path) -> None:
    a, b = Keyring(tmp_path / "a.json"), Keyring(tmp_path / "b.json")
    assert a.contact_hash("13812345678") != b.contact_hash("13812345678")


def test_tampering_is_detected(tmp_path) -> None:
    ring = Keyring(tmp_path / "keys.json")
    sealed = ring.seal(Contact("李四", "13812345678"))
    body = sealed["sealed"]
    flipped = body[:20] + ("A" if body[20] != "A" else "B") + body[21:]
    with pytest.raises(PiiError, match=r"^sealed:"):
        ring.open(sealed["contact_hash"], flipped, sealed["key_id"])
    # the hash is bound to the ciphertext: another complainant's hash on this box does not open
    with pytest.raises(PiiError, match=r"^sealed:"):
        ring.open(ring.contact_hash("13900000000"), body, sealed["key_id"])
    with pytest.raises(PiiError, match=r"^sealed:"):
        ring.open(sealed["contact_hash"], "!!not base64!!", sealed["key_id"])


def test_unknown_key_id_and_rotation(tmp_path) -> None:
    ring = Keyring(tmp_path / "keys.json")
    old = ring.seal(Contact("王五", "13812345678"))
    with pytest.raises(PiiError, match=r"^key_id:"):
        ring.open(old["contact_hash"], old["sealed"], "knope")
    new_id = ring.rotate()
    assert new_id != old["key_id"] and ring.current == new_id
    new = Keyring(tmp_path / "keys.json").seal(Contact("王五", "13812345678"))  # another process reads the file
    assert new["key_id"] == new_id and new["contact_hash"] == old["contact_hash"]  # the salt is kept
    assert ring.open(**old).name == "王五" and ring.open(**new).name == "王五"
    # sealed under the old key but labelled with the new one: refused
    with pytest.raises(PiiError):
        ring.open(old["contact_hash"], old["sealed"], new_id)


def test_key_file_is_owner_only_and_refused_when_not(tmp_path) -> None:
    path = tmp_path / "credentials" / "complaints" / "keys.json"
    Keyring(path).seal(Contact("赵六", "13812345678"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="readable by others"):
        _ = Keyring(path).current
    os.chmod(path, 0o600)
    path.write_text("{}")
    with pytest.raises(KeyFileError, match="not a complaints key file"):
        _ = Keyring(path).current


def test_masks_show_little() -> None:
    assert mask_name("张三丰") == "张**"
    assert mask_phone("13812345678") == "138****5678"
    assert "张三丰" not in repr(Contact("张三丰", "13812345678"))
    assert "13812345678" not in repr(Contact("张三丰", "13812345678"))


def test_redaction_in_text_and_logs(caplog) -> None:
    said = f"请回电 138-1234-5678 或 +86 13912345678，身份证 {ID}"
    assert redact(said) == "请回电 [已隐去] 或 [已隐去]，身份证 [已隐去]"
    assert redact("case 2024-000123 at 2026-12-02") == "case 2024-000123 at 2026-12-02"
    install_log_redaction()
    install_log_redaction()  # idempotent
    with caplog.at_level(logging.INFO):
        logging.getLogger("esup.test").info("complainant %s, id %s", "13812345678", ID)
    assert "13812345678" not in caplog.text and ID not in caplog.text and "[已隐去]" in caplog.text
