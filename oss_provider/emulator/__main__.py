"""CLI: ``python -m oss_provider.emulator --data-dir DIR --credentials AK:SK [...]``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from .auth import parse_credentials
from .errors import ServiceError
from .server import Emulator, build_server


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m oss_provider.emulator", description="Local Alibaba Cloud OSS emulator."
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=9000, help="port; 0 picks a free one")
    p.add_argument(
        "--data-dir", required=True, help="directory holding all state (kept on restart)"
    )
    p.add_argument(
        "--credentials",
        required=True,
        help="AK:SK[,AK2:SK2:TOKEN]; an entry with a token is an STS credential",
    )
    p.add_argument("--bucket", action="append", default=[], help="bucket to create at start")
    p.add_argument("--region", default="cn-hangzhou", help="region reported by the server")
    p.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every request")
    p.add_argument("--fault-rate", type=float, default=0.0, help="share of requests that fail")
    p.add_argument("--seed", type=int, default=None, help="seed for --fault-rate (deterministic)")
    p.add_argument("--verbose", action="store_true", help="log every request")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    try:
        credentials = parse_credentials(args.credentials)
        if not credentials:
            raise ValueError("--credentials needs at least one AK:SK pair")
        app = Emulator(
            args.data_dir,
            credentials,
            buckets=args.bucket,
            latency_ms=args.latency_ms,
            fault_rate=args.fault_rate,
            seed=args.seed,
            region=args.region,
        )
        server = build_server(args.host, args.port, app)
    except (ValueError, OSError, ServiceError) as exc:
        print(f"oss emulator: {exc}", file=sys.stderr)
        return 2

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"OSS emulator listening on {server.endpoint}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
