"""Helpers for client tests: system tools, a real terminal under tmux."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from tests.support import ROOT

ENSURE_TOOLS = ROOT / "scripts" / "ensure-test-tools.sh"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def ensure_test_tools() -> None:
    """Install tmux and Debian's chromium/chromedriver when missing (as .ci/run does)."""
    if shutil.which("tmux") and CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    subprocess.run(["bash", str(ENSURE_TOOLS)], check=True, timeout=900)


class Tmux:
    """One command in a detached tmux session on a private server socket.

    The pane is a real terminal (a pty with a size), so the program sees a TTY: rich
    draws its live display and Ctrl-C arrives as SIGINT from the terminal driver.
    """

    def __init__(self, command: list[str], env: Mapping[str, str], *, width: int = 140) -> None:
        self.socket = f"kra-test-{uuid.uuid4().hex[:8]}"
        # Keep the pane open after the command so its last screen and exit code stay readable.
        shell = f"{shlex.join(command)}; echo EXIT=$?; sleep 600"
        self._tmux(
            "-f", "/dev/null", "new-session", "-d", "-s", "main", "-x", str(width), "-y", "50",
            shell, env=env,
        )  # fmt: skip
        self._socket_path = Path(self._tmux("display-message", "-p", "#{socket_path}").strip())

    def _tmux(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            env=dict(env) if env is not None else None,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
        return result.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "main")

    def send(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "main", *keys)

    def wait_for(
        self, check: Callable[[str], bool], *, timeout: float = 60, every: float = 0.1
    ) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if check(screen):
                return screen
            if time.monotonic() > deadline:
                raise TimeoutError(f"the terminal never showed what was expected:\n{screen}")
            time.sleep(every)

    def exit_code(self, timeout: float = 60) -> int:
        screen = self.wait_for(lambda text: "EXIT=" in text, timeout=timeout)
        return int(screen.split("EXIT=", 1)[1].split()[0])

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)
        # tmux leaves its socket file behind; each test run would add one more.
        self._socket_path.unlink(missing_ok=True)
