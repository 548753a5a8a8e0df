"""Download and unpack the Speech Commands archives, safely and resumably.

The official archives are 1.4-2.4 GB, so an interrupted run must not start from zero: bytes go
to ``<archive>.part`` and are resumed with an HTTP Range request; the file is renamed into place
only after its SHA-256 matches. Extraction goes into a hidden temporary folder that is renamed
once complete, with a ``.completed`` marker inside (lhotse-style), so a second call is a no-op
and a killed run never leaves a half-extracted dataset that looks finished. Archive members that
would land outside the target folder are refused, not skipped. HTTP uses only the standard
library.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import rich.progress as rp
from rich.console import Console

from kwslab.errors import DownloadError

if TYPE_CHECKING:
    from hashlib import _Hash  # typeshed's type of a hash object; not importable at run time

# version -> (official URL, published SHA-256). The digests are torchaudio's
# ``speechcommands._CHECKSUMS``; the v0.02 one matches TensorFlow Datasets' checksums.tsv.
ARCHIVES = {
    "v0.02": (
        "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
        "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58",
    ),
    "v0.01": (
        "http://download.tensorflow.org/data/speech_commands_v0.01.tar.gz",
        "743935421bb51cccdb6bdd152e04c5c70274e935c82119ad7faeec31780d811d",
    ),
}
COMPLETED = ".completed"  # written inside the dataset folder before it is renamed into place
TIMEOUT_S = 30.0  # per socket operation (connect, each read), not for the whole download
CHUNK_BYTES = 1 << 20  # 1 MiB per read/write/hash step
USER_AGENT = "kwslab-download/1"


def download_speech_commands(
    dest: str | Path, version: str = "v0.02", *, url: str | None = None,
    sha256: str | None = None, progress: bool = True,
) -> Path:
    """Download and extract Speech Commands into ``dest/speech_commands_<version>``.

    Safe to re-run: a finished folder is returned at once without touching the network, and
    an interrupted download resumes. The archive is kept next to the folder; delete it once
    the folder exists if disk space matters.

    Args:
        dest: folder that receives the archive and the extracted dataset.
        version: ``"v0.02"`` (35 words, 105,829 clips) or ``"v0.01"`` (30 words).
        url: a mirror to fetch instead of the official archive.
        sha256: expected digest. Defaults to the published one for the official URL; with a
            custom ``url`` and no ``sha256`` only the size announced by the server is checked.
        progress: show a progress bar on stderr.

    Returns:
        The dataset folder, ready for :func:`kwslab.data.speechcommands.prepare_speech_commands`.

    Raises:
        DownloadError: unknown version, network failure, checksum mismatch, or an archive
            member that would escape the folder.
    """
    if version not in ARCHIVES:
        raise DownloadError(
            f"unknown Speech Commands version {version!r}; valid: {', '.join(sorted(ARCHIVES))}"
        )
    official_url, official_sha = ARCHIVES[version]
    if url is None or url == official_url:
        url, sha256 = official_url, sha256 or official_sha
    dest = Path(dest)
    name = f"speech_commands_{version}"
    folder = dest / name
    if (folder / COMPLETED).is_file():
        return folder
    if folder.exists():
        raise DownloadError(
            f"{folder} exists but is not a finished download (no {COMPLETED} marker); "
            "remove it or choose another destination"
        )
    archive = download_file(url, dest / f"{name}.tar.gz", sha256=sha256, progress=progress)
    tmp = dest / f".{name}.extracting"
    shutil.rmtree(tmp, ignore_errors=True)  # leftovers of a killed run
    try:
        safe_extract(archive, tmp)
        root = _dataset_root(tmp)
        (root / COMPLETED).write_text(f"{url}\n{sha256 or ''}\n")
        os.replace(root, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _dataset_root(tmp: Path) -> Path:
    """The official archives have no top folder; a mirror's single wrapping folder is unwrapped."""
    entries = list(tmp.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    if not entries:
        raise DownloadError(f"{tmp}: the archive is empty")
    return tmp


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
        raise DownloadError(f"cannot download {url}: {_reason(e)}") from e

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
                f"download of {url} stopped after {received} bytes ({_reason(e)}); "
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


def _reason(e: BaseException) -> str:
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


def safe_extract(archive: str | Path, dest: str | Path) -> None:
    """Extract a tar archive into ``dest``, refusing anything that would land outside it.

    Absolute names, ``..`` paths, symlinks or hardlinks whose target leaves ``dest`` (checked
    against what is already on disk, so link chains are caught), and device/FIFO members all
    raise. The archive is read as a stream (one decompression pass). On error ``dest`` may
    hold part of the archive; callers extract into a temporary folder.

    Raises:
        DownloadError: unreadable archive, or the offending member's name.
    """
    archive = Path(archive)
    Path(dest).mkdir(parents=True, exist_ok=True)
    root = os.path.realpath(dest)
    extra: dict[str, Any] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    try:
        with tarfile.open(archive, "r|*") as tar:
            for member in tar:
                _check_member(member, root, archive)
                tar.extract(member, root, **extra)
    except DownloadError:
        raise
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise DownloadError(f"{archive}: cannot extract ({_reason(e)})") from e


def _check_member(member: tarfile.TarInfo, root: str, archive: Path) -> None:
    def inside(p: str) -> bool:
        return p == root or p.startswith(root + os.sep)

    def refuse(why: str) -> DownloadError:
        return DownloadError(f"{archive}: refusing member {member.name!r}: {why}")

    name = member.name
    if os.path.isabs(name) or name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        raise refuse("absolute path")
    target = os.path.realpath(os.path.join(root, name))
    if not inside(target):
        raise refuse("it would be written outside the target folder")
    if member.issym():
        parent = os.path.realpath(os.path.join(root, os.path.dirname(name)))
        link = member.linkname
        if os.path.isabs(link) or not inside(os.path.realpath(os.path.join(parent, link))):
            raise refuse(f"symlink to {link!r} points outside the target folder")
    elif member.islnk():
        link = member.linkname
        if os.path.isabs(link) or not inside(os.path.realpath(os.path.join(root, link))):
            raise refuse(f"hardlink to {link!r} points outside the target folder")
    elif not (member.isfile() or member.isdir()):
        raise refuse("device or FIFO members are not allowed")
