"""CLI: ``python -m oss_provider.emulator --data-dir DIR --credentials-file FILE [...]``.

Credentials come from ``--credentials``, ``--credentials-file`` or, when neither is given, the
environment variable ``OSS_EMULATOR_CREDENTIALS``; the latter two keep secrets out of the
process's command line (``/proc/<pid>/cmdline``, ``ps``).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from .app import Emulator
from .auth import parse_credentials
from .errors import ServiceError
from .server import build_server

CREDENTIALS_ENV = "OSS_EMULATOR_CREDENTIALS"
EPILOG = f"""\
credentials:
  --credentials, --credentials-file PATH, or (when neither is given) the environment variable
  {CREDENTIALS_ENV}, all in the form AK:SK[,AK2:SK2:TOKEN]. Prefer the file or the variable:
  a command line is readable by every local user.

control endpoints:
  /_emulator/{{faults,clock,credentials,stats,buckets,health}} are unsigned. They answer 403
  unless the request has the header 'X-OSS-Emulator-Control: 1' and no Origin header (nor a
  Sec-Fetch-Site other than 'none'), so web pages cannot drive them.
"""


def _credentials_spec(args: argparse.Namespace) -> tuple[str, str]:
    """(spec, where it came from) from --credentials, --credentials-file or the environment."""
    if args.credentials is not None:
        return args.credentials, "--credentials"
    if args.credentials_file is not None:
        with open(args.credentials_file, encoding="utf-8") as fh:
            lines = [ln.strip() for ln in fh.read().splitlines()]
        entries = [ln for ln in lines if ln and not ln.startswith("#")]
        return ",".join(entries), "--credentials-file"
    spec = os.environ.pop(CREDENTIALS_ENV, None)  # not passed on to anything this starts
    if spec is None:
        raise ValueError(
            f"give credentials with --credentials-file PATH, the environment variable "
            f"{CREDENTIALS_ENV} or --credentials (AK:SK[,AK2:SK2:TOKEN])"
        )
    return spec, CREDENTIALS_ENV


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m oss_provider.emulator",
        description="Local Alibaba Cloud OSS emulator.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=9000, help="port; 0 picks a free one")
    p.add_argument(
        "--data-dir", required=True, help="directory holding all state (kept on restart)"
    )
    creds = p.add_mutually_exclusive_group()
    creds.add_argument(
        "--credentials",
        metavar="AK:SK[,AK2:SK2:TOKEN]",
        help="credentials; an entry with a token is an STS credential. Visible to every local "
        f"user in the process list: prefer --credentials-file or {CREDENTIALS_ENV}",
    )
    creds.add_argument(
        "--credentials-file",
        metavar="PATH",
        help="read the credentials (same syntax; entries separated by commas or newlines, "
        "lines starting with # ignored) from this file",
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
        spec, source = _credentials_spec(args)
        credentials = parse_credentials(spec)
        if not credentials:
            raise ValueError(f"{source} needs at least one AK:SK pair")
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
