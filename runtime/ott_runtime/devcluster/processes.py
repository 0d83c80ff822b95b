"""Child processes of the control plane: start, watch, stop, never orphan.

Each component runs in its own session (`start_new_session=True`), so a Ctrl-C
in the terminal reaches only the Python process, which then stops the
components in order instead of all of them dying at once. When the control
plane belongs to a test run, each child also asks the kernel (prctl
PR_SET_PDEATHSIG) to be sent SIGTERM when the thread that started it dies, so
that even a `kill -9` of pytest leaves nothing behind. Mind the word *thread*:
start an attached control plane from a thread that lives as long as it should
(the main thread, as pytest fixtures do), not from a short-lived worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PR_SET_PDEATHSIG = 1
LOG_TAIL_LINES = 40


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports (all held open together so none repeats)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def default_sigint() -> None:
    """A preexec hook: the child gets the default SIGINT disposition back.

    A shell that starts a job in the background (``make test &``, CI without a terminal)
    sets SIGINT to "ignore", and an ignored signal stays ignored across exec: the child
    would never see a Ctrl-C, and Python would not install its KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A preexec hook: SIGTERM this child when its parent dies (and default SIGINT)."""

    libc = ctypes.CDLL(None, use_errno=True)  # loaded before fork: the child only calls it

    def hook() -> None:
        default_sigint()
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        # The parent may have died between fork and prctl; then nobody would signal us.
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGTERM)

    return hook


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines of a log file ('' when it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def pid_alive(pid: int) -> bool:
    """Whether `pid` is a live (not zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state letter follows the parenthesised command name, which may hold spaces.
    return stat.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


def pid_runs(pid: int, executable: Path) -> bool:
    """Whether `pid` is alive and runs `executable` (guards against a reused pid)."""
    if not pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return False
    return bool(cmdline) and cmdline[0] == os.fsencode(executable)


@dataclass
class Component:
    """One running binary of the control plane and where its log goes."""

    name: str
    executable: Path
    log_path: Path
    pid: int
    process: subprocess.Popen[bytes] | None = None

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return pid_runs(self.pid, self.executable)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return tail(self.log_path, lines)

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `grace_s`; waits until the process is gone."""
        if not self.alive():
            self._reap()
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        if not self._wait_gone(grace_s):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self._wait_gone(5.0)
        self._reap()

    def _wait_gone(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                return True
            time.sleep(0.05)
        return not self.alive()

    def _reap(self) -> None:
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=1)


def launch(
    name: str,
    executable: Path,
    args: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    die_with_parent: bool = True,
) -> Component:
    """Start `executable args...` with stdout and stderr appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(executable), *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid()) if die_with_parent else default_sigint,
            close_fds=True,
        )
    return Component(name, executable, log_path, process.pid, process)
