"""Free loopback ports for servers a test starts.

Asking the kernel for port 0 gives a port of the ephemeral range, and so does every outgoing connection: between
the test closing its probe socket and the server binding the port, a client of Kafka or ClickHouse may take it as
its local port (CI saw this: "port … is already in use"). These ports are drawn below that range instead, where
only servers bind, and each is checked free with a bind.
"""

from __future__ import annotations

import random
from pathlib import Path

from esup.stack import process

_LOWEST = 20000


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_ports(n: int = 1) -> int:
    """The first of ``n`` consecutive ports on 127.0.0.1 that nothing listens on, outside the ephemeral range."""
    top = max(_ephemeral_low(), _LOWEST + 1000) - n
    rnd = random.Random()
    for _ in range(500):
        base = rnd.randrange(_LOWEST, top)
        if not any(process.port_taken("127.0.0.1", base + i) for i in range(n)):
            return base
    raise AssertionError(f"no {n} consecutive free ports between {_LOWEST} and {top + n}")


def free_port() -> int:
    """One port on 127.0.0.1 that nothing listens on, outside the ephemeral range."""
    return free_ports(1)
