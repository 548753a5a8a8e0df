"""Downloading one file over HTTP, resumably and checked, with the standard library only.

Bytes go to ``<file>.part`` and an interrupted download resumes with an HTTP Range request;
the file is renamed into place only after its SHA-256 matches. Used by the dataset recipe and
by the pretrained front end's fetch.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import rich.progress as rp
from rich.console import Console

from kwslab.errors import DownloadError

if TYPE_CHECKING:
    from hashlib import _Hash  # typeshed's type of a hash object; not importable at run time

TIMEOUT_S = 30.0  # per socket operation (connect, each read), not for the whole download
CHUNK_BYTES = 1 << 20  # 1 MiB per read/write/hash step
USER_AGENT = "kwslab-download/1"


def download_file(
    url: str, path: str | Path, *, sha256: str | None = None, progress: bool = True,
) -> Path:
    """Fetch ``url`` to ``path`` atomically, resuming a previous ``path.part`` if present.

    ``path`` appears only after the size (and ``sha256`` if given) verified, so its presence
    means a good file. An existing ``path`` that matches is returned without a request.

    Raises:
        DownloadError: network failure (one line, the ``.part`` is kept for resuming) or
            checksum mismatch (the bad ``.part`` is deleted).
    """
    path = Path(path)
    want = sha256.strip().lower() if sha256 else None
    if path.is_file():
        if want is None or _file_sha256(path).hexdigest() == want:
            return path
        path.unlink()  # corrupt or from another version: fetch it again
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    resumed = part.is_file() and part.stat().st_size > 0
    digest = _fetch(url, part, progress=progress).hexdigest()
    if want is not None and digest != want and resumed:
        part.unlink()  # the kept bytes may be stale or damaged; one clean retry
        digest = _fetch(url, part, progress=progress).hexdigest()
    if want is not None and digest != want:
        part.unlink()
        raise DownloadError(
            f"{url}: SHA-256 {digest} does not match the expected {want}; the download was "
            "deleted (check --sha256 or the mirror)"
        )
    os.replace(part, path)
    return path


def _fetch(url: str, part: Path, *, progress: bool) -> _Hash:
    """Append the missing bytes of ``url`` to ``part``; return the SHA-256 of the whole file."""
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                      timeout=TIMEOUT_S)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 416 and offset:  # nothing left to send: complete, or larger than the file
            if _content_range(e.headers.get("Content-Range", ""))[2] == offset:
                return _file_sha256(part)
            part.unlink()
            return _fetch(url, part, progress=progress)
        raise DownloadError(f"cannot download {url}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as e:
        raise DownloadError(f"cannot download {url}: {reason(e)}") from e

    with resp:
        start = _content_range(resp.headers.get("Content-Range", ""))[0]
        if offset and resp.status == 206 and start == offset:
            mode, digest = "ab", _file_sha256(part)
        else:  # no partial file, or the server ignored Range and sends everything again
            offset, mode, digest = 0, "wb", hashlib.sha256()
        length = resp.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        received = offset
        try:
            with open(part, mode) as f, _progress_bar(progress) as bar:
                task = bar.add_task(part.name.removesuffix(".part"), total=total, completed=offset)
                while chunk := resp.read(CHUNK_BYTES):
                    f.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(task, completed=received)
                f.flush()
                os.fsync(f.fileno())
        except (OSError, http.client.HTTPException) as e:
            raise DownloadError(
                f"download of {url} stopped after {received} bytes ({reason(e)}); "
                "run again to resume"
            ) from e
    if total is not None and received != total:
        raise DownloadError(
            f"download of {url} stopped after {received} of {total} bytes; run again to resume"
        )
    return digest


def _content_range(value: str) -> tuple[int | None, int | None, int | None]:
    """``"bytes 10-99/100"`` -> (10, 99, 100); ``"bytes */100"`` -> (None, None, 100)."""
    m = re.fullmatch(r"\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*", value or "")
    if not m:
        return None, None, None
    start, end, total = (int(g) if g and g.isdigit() else None for g in m.groups())
    return start, end, total


def reason(e: BaseException) -> str:
    """The useful part of a urllib/socket error, on one line."""
    reason = getattr(e, "reason", None) or e
    if isinstance(reason, TimeoutError) or "timed out" in str(reason):
        return f"timed out after {TIMEOUT_S:.0f} s"
    text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
    return " ".join(str(text).split())


def _file_sha256(path: Path) -> _Hash:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest


def _progress_bar(enabled: bool) -> rp.Progress:
    """Bytes, speed and time left on stderr, so stdout stays clean for the printed folder."""
    return rp.Progress(
        rp.TextColumn("{task.description}"), rp.BarColumn(), rp.DownloadColumn(),
        rp.TransferSpeedColumn(), rp.TimeRemainingColumn(), console=Console(stderr=True),
        disable=not enabled,
    )
