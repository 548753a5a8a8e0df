"""A bounded load test of `kwslab serve` on loopback: throughput, latency percentiles, errors.

Not a test. Starts the server (one uvicorn process) unless ``--url`` is given, then sends
``--requests`` uploads of one 1 s WAV over ``--concurrency`` keep-alive connections from a
minimal asyncio HTTP/1.1 client (so the client costs little of the shared CPU)::

    .venv/bin/python benchmarks/serve_load.py runs/x/export --requests 2000 --concurrency 16

Target (issue 5): 0 errors and >= 200 requests/s on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np


def wav_clip(path: str | None) -> bytes:
    """The upload: a file's bytes, or 1 s of 16 kHz 16-bit noise as WAV."""
    if path:
        return Path(path).read_bytes()
    import soundfile as sf

    buf = io.BytesIO()
    x = 0.1 * np.random.default_rng(0).standard_normal(16000)
    sf.write(buf, x.astype(np.float32), 16000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def request_bytes(host: str, port: int, audio: bytes) -> bytes:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"clip.wav\"\r\nContent-Type: audio/wav\r\n\r\n").encode() + audio + (
        f"\r\n--{boundary}--\r\n").encode()
    head = (f"POST /v1/recognize HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n").encode()
    return head + body


async def worker(host: str, port: int, payload: bytes, todo: list[int], latencies: list[float],
                 statuses: dict) -> None:
    reader = writer = None
    while todo:
        todo.pop()
        start = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            writer.write(payload)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            length = next(int(v) for k, _, v in (h.partition(":") for h in lines[1:])
                          if k.lower() == "content-length")
            body = await reader.readexactly(length)
            if status == 200:
                json.loads(body)["label"]  # a real answer, not just a 200
            latencies.append(time.perf_counter() - start)
            statuses[status] = statuses.get(status, 0) + 1
        except (OSError, asyncio.IncompleteReadError, ValueError, KeyError, StopIteration) as e:
            statuses[type(e).__name__] = statuses.get(type(e).__name__, 0) + 1
            if writer is not None:
                writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def load(host: str, port: int, payload: bytes, n: int, concurrency: int) -> dict:
    todo = list(range(n))
    latencies: list[float] = []
    statuses: dict = {}
    start = time.perf_counter()
    await asyncio.gather(*(worker(host, port, payload, todo, latencies, statuses)
                           for _ in range(concurrency)))
    seconds = time.perf_counter() - start
    ms = 1e3 * np.array(latencies) if latencies else np.zeros(1)
    ok = statuses.get(200, 0)
    return {"requests": n, "concurrency": concurrency, "seconds": seconds,
            "throughput_rps": ok / seconds, "ok": ok, "errors": n - ok,
            "statuses": {str(k): v for k, v in statuses.items()},
            "p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90)),
            "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max())}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(export_dir: str, int8: bool) -> tuple[subprocess.Popen, int]:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "kwslab", "serve", export_dir, "--port", str(port),
           "--log-level", "warning"] + (["--int8"] if int8 else [])
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc, port
        except httpx.HTTPError:
            time.sleep(0.2)
        if proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("the server did not start")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("export_dir", nargs="?", help="export folder (starts a server)")
    p.add_argument("--url", help="use a running server instead, e.g. http://127.0.0.1:8000")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--clip", help="audio file to upload (default: 1 s of noise)")
    p.add_argument("--int8", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if not args.export_dir and not args.url:
        p.error("give an export folder or --url")
    proc = None
    if args.url:
        host, _, port_s = args.url.split("://", 1)[-1].rstrip("/").partition(":")
        port = int(port_s or 80)
    else:
        proc, port = start_server(args.export_dir, args.int8)
        host = "127.0.0.1"
    try:
        payload = request_bytes(host, port, wav_clip(args.clip))
        asyncio.run(load(host, port, payload, min(50, args.requests), args.concurrency))  # warm
        cpu0 = cpu_seconds(proc.pid) if proc else None
        result = asyncio.run(load(host, port, payload, args.requests, args.concurrency))
        if proc is not None:
            result["server_alive"] = proc.poll() is None
            # CPU the server spent per request: independent of other load on the machine
            result["server_cpu_ms_per_request"] = 1e3 * (cpu_seconds(proc.pid) - cpu0) / max(
                1, result["ok"])
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
    result["cpus"] = os.cpu_count()
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['requests']} requests, {result['concurrency']} concurrent, "
          f"{result['seconds']:.2f} s: {result['throughput_rps']:.0f} requests/s; latency p50 "
          f"{result['p50_ms']:.1f} ms, p90 {result['p90_ms']:.1f} ms, p99 {result['p99_ms']:.1f} "
          f"ms; errors {result['errors']} {result['statuses']}; {result['cpus']} CPUs")
    if "server_cpu_ms_per_request" in result:
        print(f"server CPU {result['server_cpu_ms_per_request']:.2f} ms per request; server "
              f"alive afterwards: {result['server_alive']}")


if __name__ == "__main__":
    main()
