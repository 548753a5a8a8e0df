"""`kwslab serve`."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

import typer

from kwslab.cli.app import app, console
from kwslab.errors import ConfigError


@app.command()
def serve(
    export_dir: Path = typer.Argument(..., help="Export folder written by `kwslab export`."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port."),
    int8: bool = typer.Option(False, "--int8", help="Serve the int8 model."),
    max_upload_mb: float = typer.Option(5.0, "--max-upload-mb", min=0.001,
                                        help="Uploads over this many MiB get 413."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level: critical, "
                                  "error, warning, info, debug or trace."),
) -> None:
    """Serve the model over HTTP: POST /v1/recognize, WebSocket /v1/stream, GET /v1/model,
    a web page at /."""
    import os

    levels = ("critical", "error", "warning", "info", "debug", "trace")
    if log_level.lower() not in levels:
        raise ConfigError(f"--log-level {log_level!r}: one of {', '.join(levels)}")
    log_level = log_level.lower()
    # One BLAS thread per request: concurrency comes from requests in the thread pool, and
    # OpenBLAS's spinning threads cost ~10x the CPU on small matmuls under load. Read by
    # OpenBLAS when NumPy loads, which has not happened yet in this process.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    from kwslab.runtime import load_export
    from kwslab.utils.imports import require

    uvicorn = require("uvicorn", "kwslab serve")
    require("fastapi", "kwslab serve")
    from kwslab.serve import create_app
    from kwslab.serve.protocol import JsonErrorH11Protocol, websocket_protocol
    load_export(export_dir, int8=int8)  # fail here, in one line, not inside uvicorn
    sock = _listen(host, port)
    ws = websocket_protocol()
    if ws is None:
        console.print("warning: WebSocket /v1/stream needs websockets, which is not "
                      "installed: pip install 'kwslab[serve]'", highlight=False)
    application = create_app(export_dir, int8=int8,
                             max_upload_bytes=int(max_upload_mb * 1024 * 1024))
    port = sock.getsockname()[1]  # the one bound, also for --port 0
    console.print(f"serving {export_dir} on http://{host}:{port}/ (API docs at /docs)",
                  soft_wrap=True)  # one line, whatever the path: logs are read for the URL
    # The JSON-400 protocol is h11's: with httptools installed uvicorn would otherwise pick
    # that parser, whose unparseable-request 400 is plain text.
    server = uvicorn.Server(uvicorn.Config(application, host=host, port=port,
                                           log_level=log_level, http=JsonErrorH11Protocol,
                                           ws=ws or "auto"))
    # As uvicorn.run, but on the socket bound above: no other program can take the port
    # between the check and the server.
    with sock, contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
    if not server.started:
        raise typer.Exit(3)  # uvicorn has logged why (its own exit code for this)


def _listen(host: str, port: int) -> socket.socket:
    """The socket to serve on, bound here so that a port in use or an unknown host is one
    line, before uvicorn logs its own seven."""
    sock = None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        sock.bind(address)
        sock.listen()  # held from here: another bind to the port fails, even with SO_REUSEADDR
    except OSError as e:
        if sock is not None:
            sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({e.strerror or e}); pick a free "
                          "port or another --host") from e
    return sock
