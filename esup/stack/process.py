"""Background processes for the launchers: pid files, port and disk checks, start, wait and stop."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from esup.stack.errors import StackError

# Processes this interpreter started and has not reaped yet; polling them keeps them from lingering
# as zombies while a test session (the parent) is still alive.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def port_taken(host: str, port: int) -> bool:
    """Whether something already listens on host:port (a bind attempt, so no false positives on TIME_WAIT)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def listener_of(port: int) -> str:
    """Who holds a TCP port, as `ss` tells it (best effort: empty when ss is missing or says nothing)."""
    ss = shutil.which("ss")
    if not ss:
        return ""
    try:
        out = subprocess.run([ss, "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    # users:(("java",pid=123,fd=4)) → java pid 123
    for line in out.splitlines():
        if "users:((" in line:
            users = line.split("users:((", 1)[1]
            name = users.split('"')[1] if '"' in users else "?"
            pid = users.split("pid=", 1)[1].split(",", 1)[0] if "pid=" in users else "?"
            return f"{name} (pid {pid})"
    return ""


def require_port_free(service: str, host: str, port: int, setting: str) -> None:
    """Raise a StackError naming the port's holder and the setting to change when the port is taken."""
    if port_taken(host, port):
        holder = listener_of(port)
        raise StackError(
            service,
            f"port {port} on {host} is already in use" + (f" by {holder}" if holder else ""),
            f"stop whatever holds it, or choose another port with {setting}=<port>",
        )


def require_disk(service: str, path: Path, min_free_mb: int) -> None:
    """Raise a StackError unless the disk holding `path` has `min_free_mb` free (creates `path`)."""
    path.mkdir(parents=True, exist_ok=True)
    free_mb = shutil.disk_usage(path).free // (1024 * 1024)
    if free_mb < min_free_mb:
        raise StackError(
            service,
            f"disk full: only {free_mb} MB free under {path}, {min_free_mb} MB needed",
            "free some space (or lower ESUP_MIN_FREE_DISK_MB if you know better)",
        )


def require_binary(service: str, name: str, what: str, hint: str) -> str:
    """The path of an executable on PATH; raises a StackError with a hint when it is missing."""
    found = shutil.which(name)
    if not found:
        raise StackError(service, f"{what} not found (looked for {name!r} on PATH)", hint)
    return found


def read_pid(pidfile: Path) -> int | None:
    """The pid in a pid file, or None when the file is missing or unreadable."""
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def alive(pid: int, marker: str) -> bool:
    """Whether pid runs and its command line contains marker (a recycled pid is not ours)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        # Our own child: poll() is authoritative (and right after fork its cmdline is still Python's).
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and marker in cmdline


def spawn(argv: Sequence[str], log: Path, cwd: Path, env: dict[str, str] | None = None) -> int:
    """Start argv detached in its own session (it outlives the CLI), stdout and stderr appended to log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env={**os.environ, **(env or {})},
        )
    _CHILDREN[proc.pid] = proc
    return proc.pid


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file, indented, for an error message ("" when unreadable)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def wait_until(
    service: str, ready: Callable[[], bool], timeout: float, still_running: Callable[[], bool], logs: Sequence[Path]
) -> None:
    """Poll ready() until it holds; fail fast, with the logs' last lines, when the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return
        died = not still_running()
        if died or time.monotonic() > deadline:
            problem = "exited during start-up" if died else f"did not answer within {timeout:.0f} s"
            excerpt = "\n".join(f"  {p}:\n{t}" for p in logs if (t := tail(p)))
            if "No space left on device" in excerpt:
                problem += " (disk full: No space left on device)"
            raise StackError(
                service,
                problem + (f"; last log lines:\n{excerpt}" if excerpt else ""),
                "see the logs above; `esup status stack` shows where they are",
            )
        time.sleep(0.25)


def stop(pid: int, marker: str, timeout: float = 30.0) -> bool:
    """SIGTERM the process group (the server and anything it forked), SIGKILL after timeout; True if it ran."""
    if not alive(pid, marker):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid, marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    if alive(pid, marker):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        while alive(pid, marker):
            time.sleep(0.1)
    return True
