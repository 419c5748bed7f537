"""`make run`: broker, topics, migrations and every service in the foreground; Ctrl-C stops all.

Each service runs as its own process (`<svc> serve`, API plus relay and consumers), so a
crash in one is visible and the shutdown order is explicit: services first (they finish the
event in hand and commit), then the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from servicekit.broker import TansuBroker, wait_for_port
from servicekit.kafka import broker_reachable, ensure_topics


@dataclass
class ServiceProcess:
    """One service to run: its command name, port and env prefix."""

    name: str
    port: int

    @property
    def prefix(self) -> str:
        """Environment variable prefix of the service's settings."""
        return f"{self.name.upper()}_"


def _parse_service(value: str) -> ServiceProcess:
    name, _, port = value.partition(":")
    return ServiceProcess(name, int(port))


def _banner(services: list[ServiceProcess], host: str, bootstrap: str, var: Path) -> str:
    lines = ["", "Lending platform is running:"]
    for svc in services:
        base = f"http://{host}:{svc.port}"
        lines.append(
            f"  {svc.name.upper():4} {base}   docs {base}/docs   health {base}/health/ready"
        )
    lines += [
        f"  broker {bootstrap} (in memory: a restart loses every topic)",
        f"  data   {var}/",
        "",
        "Get a token:  make -s token ROLE=applicant_agent   (or underwriter, credit_manager, admin...)",
        "Walk through: make demo      Stop: Ctrl-C",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Start everything and wait for Ctrl-C."""
    parser = argparse.ArgumentParser(description="Run the whole platform locally.")
    parser.add_argument(
        "--service",
        action="append",
        type=_parse_service,
        required=True,
        help="name:port, e.g. los:8001",
    )
    parser.add_argument("--host", default=os.environ.get("LENDING_HOST", "127.0.0.1"))
    parser.add_argument(
        "--broker",
        default=os.environ.get("LENDING_KAFKA_BOOTSTRAP_SERVERS"),
        help="use an external Kafka instead of starting the bundled broker",
    )
    parser.add_argument(
        "--broker-port", type=int, default=int(os.environ.get("LENDING_BROKER_PORT", "9092"))
    )
    parser.add_argument("--var", type=Path, default=Path(os.environ.get("LENDING_VAR", "var")))
    args = parser.parse_args(argv)
    services: list[ServiceProcess] = args.service
    var: Path = args.var.resolve()
    var.mkdir(parents=True, exist_ok=True)

    broker: TansuBroker | None = None
    if args.broker:
        bootstrap = args.broker
    else:
        bootstrap = f"127.0.0.1:{args.broker_port}"
        if asyncio.run(broker_reachable(bootstrap, 0.5)):
            print(
                f"Something already listens on {bootstrap}; stop it or set LENDING_BROKER_PORT.",
                file=sys.stderr,
            )
            return 1
        broker = TansuBroker("127.0.0.1", args.broker_port, log_file=var / "broker.log").start()
        print(f"broker started on {bootstrap} (log {var / 'broker.log'})", flush=True)

    processes: list[tuple[ServiceProcess, subprocess.Popen[bytes]]] = []
    stopping = False

    def _stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    exit_code = 0
    try:
        asyncio.run(ensure_topics(bootstrap))
        bin_dir = Path(sys.executable).parent
        for svc in services:
            env = {
                **os.environ,
                f"{svc.prefix}PORT": str(svc.port),
                f"{svc.prefix}HOST": args.host,
                f"{svc.prefix}KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                f"{svc.prefix}LOG_JSON": os.environ.get(f"{svc.prefix}LOG_JSON", "false"),
            }
            env.setdefault(f"{svc.prefix}DATABASE_URL", f"sqlite+aiosqlite:///{var / svc.name}.db")
            subprocess.run([str(bin_dir / svc.name), "migrate"], env=env, check=True)  # noqa: S603
            # Own process group: Ctrl-C reaches us once, and we stop children in order.
            proc = subprocess.Popen(  # noqa: S603
                [str(bin_dir / svc.name), "serve"], env=env, start_new_session=True
            )
            processes.append((svc, proc))
        for svc, proc in processes:
            _wait_ready(args.host, svc.port, proc)
        print(_banner(services, args.host, bootstrap, var), flush=True)
        while not stopping:
            for svc, proc in processes:
                if proc.poll() is not None:
                    print(f"{svc.name} exited with {proc.returncode}; stopping", file=sys.stderr)
                    exit_code = 1
                    stopping = True
            time.sleep(0.2)
    except Exception as exc:
        print(f"start-up failed: {exc}", file=sys.stderr)
        exit_code = 1
    finally:
        print("stopping...", flush=True)
        for _, proc in reversed(processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for svc, proc in reversed(processes):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                print(f"{svc.name} did not stop in time; killing", file=sys.stderr)
                proc.kill()
                proc.wait()
        if broker is not None:
            broker.stop()
        print("stopped.", flush=True)
    return exit_code


def _wait_ready(
    host: str, port: int, proc: subprocess.Popen[bytes], timeout_s: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process on port {port} exited with {proc.returncode}")
        try:
            wait_for_port(host, port, 0.5)
            return
        except TimeoutError:
            continue
    raise TimeoutError(f"nothing listening on {host}:{port}")


if __name__ == "__main__":
    sys.exit(main())
