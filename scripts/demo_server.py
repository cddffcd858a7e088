"""`numerus demo` as a subprocess for the end-to-end scripts (api_e2e.py, crash_test.py): on a
free loopback port, in its own process group (a Ctrl-C reaches only the test, which then
stops the server; a crash test can SIGKILL the whole group), each start's output in its own
log file."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

READY_TIMEOUT = 180  # s: a first start synthesizes a market and builds a dataset


class ServerFailed(Exception):
    """The server did not start or answer."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DemoServer:
    def __init__(self, numerus: Path, data_dir: Path, log_dir: Path, *, seed: int,
                 day_seconds: float, participants: int, env: dict[str, str]) -> None:
        self.numerus, self.data_dir, self.log_dir = numerus, data_dir, log_dir
        self.seed, self.day_seconds, self.participants = seed, day_seconds, participants
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = None
        self.log_path: Path | None = None
        self.starts = 0

    def start(self) -> None:
        """Starts (or, on the same data directory, resumes) the demo."""
        self.starts += 1
        self.log_path = self.log_dir / f"server-{self.starts}.log"
        command = [
            str(self.numerus), "demo",
            "--data-dir", str(self.data_dir),
            "--addr", f"127.0.0.1:{self.port}",
            "--seed", str(self.seed),
            "--day-seconds", str(self.day_seconds),
            "--participants", str(self.participants),
        ]
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=dict(os.environ, **self.env),
                                     start_new_session=True)

    def wait_ready(self) -> float:
        """Seconds until GET /health answered 200."""
        started = time.monotonic()
        while True:
            code = self.proc.poll()
            if code is not None:
                raise ServerFailed(f"numerus demo exited with status {code} before /health "
                                   f"answered; log:\n{self.tail()}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return time.monotonic() - started
            if time.monotonic() - started > READY_TIMEOUT:
                raise ServerFailed(f"GET /health did not answer 200 within {READY_TIMEOUT} s")
            time.sleep(0.25)

    def kill(self) -> None:
        """SIGKILL to the whole process group, as a crash or `kill -9` would."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._close_log()

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 15 s; the exit status if it stopped by itself."""
        code = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                print("note: the server did not stop within 15 s of SIGTERM; killing it",
                      flush=True)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._close_log()
        return code

    def _close_log(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None

    def tail(self, lines: int = 60) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no server log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
