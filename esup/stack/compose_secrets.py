"""docker-compose's `certs` service: the broker's TLS material and the admin's credentials file, made once."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from esup.kafka_auth import ADMIN, write_credentials
from esup.settings import load_settings
from esup.stack.tls import ensure_broker_tls


def main(argv: list[str]) -> None:
    """argv DIRECTORY HOSTS (comma-separated): the brokers' TLS files and keystore.env into DIRECTORY; the admin's
    credentials file."""
    directory, host = Path(argv[0]), argv[1]
    tls = ensure_broker_tls(directory, host)
    env = directory / "keystore.env"  # sourced by the broker's start command (its keystore password)
    fd = os.open(env, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"KAFKA_KEYSTORE_PASSWORD={tls.keystore_password}\n")
    write_credentials(load_settings(), ADMIN, os.environ["KAFKA_ADMIN_PASSWORD"])


if __name__ == "__main__":
    main(sys.argv[1:])
