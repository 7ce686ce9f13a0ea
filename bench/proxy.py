"""A loopback TCP proxy that caps each connection's bandwidth: with latency, a stand-in WAN link.

The emulator has ``--latency-ms`` (a delay per request) but no bandwidth option, so scenario B2
puts this proxy in front of it. Every accepted connection gets its own upstream connection and its
own token bucket per direction, so N parallel connections get N times the bandwidth, as on a real
path where one TCP stream is limited by window / RTT.

    python -m bench.proxy --upstream 127.0.0.1:9000 --mbit 200 [--port 0]

prints ``proxy listening on http://127.0.0.1:PORT`` when ready.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time

CHUNK = 64 * 1024


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rate: float) -> None:
    """Copy bytes at most ``rate`` bytes/s (0 = unlimited): a token bucket with a small burst."""
    burst = 4 * CHUNK
    tokens = float(burst)
    last = time.monotonic()
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            if rate:
                now = time.monotonic()
                tokens = min(burst, tokens + (now - last) * rate) - len(data)
                last = now
                if tokens < 0:  # refilled by the time we wake (counted on the next read)
                    await asyncio.sleep(-tokens / rate)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):  # already closed
            writer.close()


async def _serve(args: argparse.Namespace) -> None:
    up_host, up_port = args.upstream.rsplit(":", 1)
    rate = args.mbit * 1e6 / 8 if args.mbit else 0.0

    async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        try:
            ur, uw = await asyncio.open_connection(up_host, int(up_port))
        except OSError:
            cw.close()
            return
        await asyncio.gather(_pump(cr, uw, rate), _pump(ur, cw, rate))

    server = await asyncio.start_server(handle, args.host, args.port, backlog=256)
    port = server.sockets[0].getsockname()[1]
    print(f"proxy listening on http://{args.host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="bandwidth-capped TCP proxy (per connection)")
    p.add_argument("--upstream", required=True, help="HOST:PORT of the emulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--mbit", type=float, default=200.0, help="cap per connection and direction")
    args = p.parse_args(argv)
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
