"""``keel serve`` as a real process on loopback, for the tests that need a server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

KEEL = shutil.which("keel", path=str(Path(sys.executable).parent)) or "keel"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any KEEL_ setting of the developer's, plus ``extra``."""
    return {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")} | extra


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def keel_serve(root: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``keel serve`` on a free port until the block ends; yield its URL.

    Args:
        root: The workspace folder (the current directory of the server).
        *extra: More ``keel serve`` options.
        env: The server's environment; :func:`clean_env` when ``None``.

    Yields:
        ``http://127.0.0.1:PORT``, once ``/healthz`` answers.
    """
    port = _free_port()
    process = subprocess.Popen(
        [KEEL, "serve", "--port", str(port), *extra],
        cwd=root,
        env=env or clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90  # several workers each import Keel; CI machines are busy
    try:
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"keel serve did not start (exit status {process.poll()})")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
