"""Atomic writes: a file is replaced whole or not at all, and a failed write leaves nothing."""

from __future__ import annotations

import numpy as np
import pytest

from kwslab.utils.io import replacing, writable_dir, write_bytes_atomic, write_text_atomic


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "out.txt"
    write_text_atomic(path, "old\n")
    with pytest.raises(RuntimeError), replacing(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "out.txt"]
    write_bytes_atomic(path, b"new")
    assert path.read_bytes() == b"new" and len(list(tmp_path.iterdir())) == 1


def test_a_suffix_keeps_numpy_from_renaming_the_temporary(tmp_path):
    with replacing(tmp_path / "sub" / "x.npy", suffix=".npy") as tmp:
        np.save(tmp, np.arange(3), allow_pickle=False)
    assert np.load(tmp_path / "sub" / "x.npy").tolist() == [0, 1, 2]
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["x.npy"]


def test_writing_over_a_folder_fails_cleanly(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError):
        write_text_atomic(tmp_path / "d", "x")
    assert [p.name for p in tmp_path.iterdir()] == ["d"]
    (tmp_path / "f").write_text("")
    with pytest.raises(OSError):
        writable_dir(tmp_path / "f" / "out")
