"""A small set of real recordings shipped with kwslab, for scoring on real voices.

64 unmodified Speech Commands clips (Warden 2018, CC BY 4.0; see the folder's
``ATTRIBUTION.md``) of the 8 seed words, 8 a word, from 26 speakers of the test list of
``shared/data/speech_commands_mini``: a model trained on synthetic speech, or on that set's
training split, can be scored on people it never heard, with no download.
"""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

from kwslab.errors import DataError

PACKAGE_PATH = ("assets", "real_clips")  # under the kwslab package
WORDS = ("down", "go", "left", "off", "on", "right", "stop", "up")  # the words it holds


def real_clips_dir() -> Path:
    """The shipped folder, in the Speech Commands layout (every clip in ``testing_list.txt``).

    Raises:
        DataError: the package was installed without its data files.
    """
    resource = files("kwslab").joinpath(*PACKAGE_PATH)
    with as_file(resource) as path:  # a real folder for an ordinary (non-zip) install
        folder = Path(path)
    if not (folder / "testing_list.txt").is_file():
        raise DataError(f"kwslab's real clips are missing from {folder}; reinstall kwslab "
                        "(pip install --force-reinstall kwslab) so its package data is present")
    return folder
