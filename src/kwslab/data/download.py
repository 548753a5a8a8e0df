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

import os
import re
import shutil
import tarfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kwslab.errors import DownloadError
from kwslab.utils.download import download_file, reason

if TYPE_CHECKING:
    pass  # typeshed's type of a hash object; not importable at run time

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
        try:
            safe_extract(archive, tmp)
        except DownloadError as e:  # a rerun would find the same archive and fail the same way
            if sha256 is None:  # nothing vouched for it: fetch it afresh next time
                archive.unlink(missing_ok=True)
                raise DownloadError(f"{e}; the unverified archive was deleted, run again to "
                                    "download it afresh") from e
            raise DownloadError(f"{e}; delete {archive} to download it again") from e
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
        raise DownloadError(f"{archive}: cannot extract ({reason(e)})") from e


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
