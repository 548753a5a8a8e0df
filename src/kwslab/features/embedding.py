"""A frozen, pretrained speech front end: Google's ``speech_embedding`` (Lin et al. 2020).

"Training Keyword Spotters with Limited and Synthesized Speech Data" (ICASSP 2020) trained this
small convolutional network on a large corpus of speech so that a tiny head on its 96-value
embeddings learns a new keyword from a few hundred clips. That is exactly kwslab's regime
(~190 clips a word): a head on these embeddings generalises to unseen speakers far better
than a CNN trained from scratch on log-Mels (``benchmarks/accuracy.py``).

The two ONNX files (a 32-bin log-Mel front end and the embedding network, Apache-2.0) ship
inside the ``openwakeword`` 0.5.1 wheel on PyPI; :func:`fetch` downloads that wheel once
(resumable, SHA-256 checked) and keeps only the two files. Only onnxruntime and NumPy run
them, so the runtime stays torch-free, and ``kwslab export`` copies them beside the model.

Shapes: a clip of ``n`` samples, zero-padded by ``context_ms`` on each side, gives
``(n - 512) // 160 + 1`` Mel frames (10 ms hop); the embedding network reads windows of 76 frames
(0.775 s) every 8 frames (80 ms), so a padded 1.5 s clip yields 9 embeddings: (96, 9).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from kwslab.errors import ConfigError, DownloadError, MissingExtraError, ModelError
from kwslab.utils.io import cleaned_on_error, write_bytes_atomic

WHEEL_URL = (
    "https://files.pythonhosted.org/packages/00/b7/"
    "4bbef6bd840866579672eb7240c19f547dcb12dc685dbf725a67a6afbac3/"
    "openwakeword-0.5.1-py3-none-any.whl"
)
WHEEL_SHA256 = "015467e49f08b0ef8efa433690ce70566abb72f7c36501a6fa893762b4ddc559"
MEMBER_DIR = "openwakeword/resources/models/"
MEL, EMBED = "melspectrogram.onnx", "embedding_model.onnx"
FILES = {  # SHA-256 of each file as the wheel holds it
    MEL: "ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f",
    EMBED: "70d164290c1d095d1d4ee149bc5e00543250a7316b59f31d056cff7bd3075c1f",
}
VAD = "silero_vad.onnx"  # Silero VAD (MIT), in the same wheel: kwslab.runtime.vad's model
VAD_SHA256 = "a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28"
FLOORLESS = "melspectrogram_floorless.onnx"  # MEL cut before its batch-relative floor
STRIDED = "embedding_model_strided.onnx"  # EMBED over any number of frames at once
STAGES = tuple(f"embedding_stage{i}.onnx" for i in range(4))  # STRIDED cut at its time pools
DERIVED = (FLOORLESS, STRIDED, *STAGES)  # made by fetch() and export (needs onnx), so a
# deployed runtime needs only onnxruntime
DIM = 96  # values per embedding
WINDOW, STEP = 76, 8  # Mel frames per embedding, and between embeddings
HOP = 160  # samples per Mel frame (10 ms)
INT16 = 32767.0  # the front end expects 16-bit PCM scale
N_FFT = 512  # samples per Mel frame's window
FLOOR_DB = 20.0  # fixed Mel floor (dB, 16-bit scale): about the median Speech Commands clip's
# peak (99 dB) minus the graph's own 80 dB range, so a typical clip keeps the floor it had
SUB_BATCH = 32  # clips per onnxruntime call


def default_dir() -> Path:
    """Where :func:`fetch` puts the files: ``$KWSLAB_MODELS/speech_embedding``, else
    ``~/.cache/kwslab/speech_embedding``."""
    root = os.environ.get("KWSLAB_MODELS")
    base = Path(root) if root else Path.home() / ".cache" / "kwslab"
    return base / "speech_embedding"


def n_embeddings(clip_samples: int, context_samples: int) -> int:
    """Embeddings per clip: 9 for a 1 s clip with 250 ms of context each side."""
    frames = (clip_samples + 2 * context_samples - N_FFT) // HOP + 1  # as the Mel graph
    if frames < WINDOW:
        raise ConfigError(f"speech_embedding needs >= {(WINDOW + 3) * HOP} samples with "
                         f"context, got {clip_samples + 2 * context_samples}")
    return (frames - WINDOW) // STEP + 1


def is_ready(folder: str | Path) -> bool:
    """Whether ``folder`` holds both ONNX files."""
    return all((Path(folder) / name).is_file() for name in FILES)


def fetch(dest: str | Path | None = None, *, url: str = WHEEL_URL, sha256: str = WHEEL_SHA256,
          progress: bool = True, vad: bool = False) -> Path:
    """Download the wheel (16 MB, resumable), check it, keep the two ONNX files in ``dest``.

    Returns ``dest`` at once if it already holds them (adding derived graphs it lacks). Each
    file is checked against :data:`FILES` and written atomically, so a killed run leaves no
    half file. ``vad`` also keeps the wheel's Silero VAD (:data:`VAD`, checked against
    :data:`VAD_SHA256`), fetching the wheel again if an earlier fetch did not keep it.

    Raises:
        DownloadError: network failure, checksum mismatch, or a wheel without the files.
    """
    from kwslab.utils.download import download_file

    dest = Path(dest) if dest else default_dir()
    if is_ready(dest) and (not vad or (dest / VAD).is_file()):
        if not all((dest / name).is_file() for name in DERIVED):  # fetched by an older kwslab
            # without onnx, or read-only, they are derived in memory on use (or not at all)
            with contextlib.suppress(ImportError, OSError):
                write_derived(dest)
        return dest
    with cleaned_on_error(dest):  # nothing came to resume from: leave no empty folder
        dest.mkdir(parents=True, exist_ok=True)
        wheel = download_file(url, dest / "openwakeword.whl", sha256=sha256, progress=progress)
    try:
        with zipfile.ZipFile(wheel) as zf:
            for name, want in {**FILES, **({VAD: VAD_SHA256} if vad else {})}.items():
                try:
                    data = zf.read(MEMBER_DIR + name)
                except KeyError:
                    raise DownloadError(f"{url}: the wheel has no {MEMBER_DIR}{name}") from None
                got = hashlib.sha256(data).hexdigest()
                if got != want:
                    raise DownloadError(f"{url}: {name} has SHA-256 {got}, expected {want}")
                write_bytes_atomic(dest / name, data)
    except zipfile.BadZipFile as e:
        raise DownloadError(f"{url}: not a wheel (zip) file: {e}") from e
    wheel.unlink()
    with contextlib.suppress(ImportError):  # a runtime-only box: exports carry them
        write_derived(dest)
    return dest


def write_derived(folder: str | Path) -> list[str]:
    """Write the graphs derived from the two files (:data:`DERIVED`) that apply; returns the
    names written. Needs the ``onnx`` package; the runtime then needs only onnxruntime."""
    written = [name for name, write in ((FLOORLESS, write_floorless), (STRIDED, write_strided))
               if write(folder)]
    if STRIDED in written:
        for name, data in zip(STAGES, _stages(Path(folder) / EMBED) or (), strict=False):
            write_bytes_atomic(Path(folder) / name, data)
            written.append(name)
    return written


def write_floorless(folder: str | Path) -> bool:
    """Write :data:`FLOORLESS` beside :data:`MEL` (atomically) if the graph has the floor.

    Returns whether it did; graphs without the floor (test stand-ins) are used as they are.
    """
    folder = Path(folder)
    model, floored = _without_relative_floor(folder / MEL)
    if floored:
        write_bytes_atomic(folder / FLOORLESS, model)
    return floored


def write_strided(folder: str | Path) -> bool:
    """Write :data:`STRIDED` beside :data:`EMBED` (atomically) if the graph allows it.

    Returns whether it did; other graphs (test stand-ins) are run window by window.
    """
    folder = Path(folder)
    model = _strided(folder / EMBED)
    if model is not None:
        write_bytes_atomic(folder / STRIDED, model)
    return model is not None


def resolve(folder: str | Path | None = None) -> Path:
    """The folder holding the ONNX files: ``folder`` if given, else :func:`default_dir`.

    Raises:
        ModelError: the files are not there (one line naming the fix).
    """
    path = Path(folder) if folder else default_dir()
    if not is_ready(path):
        raise ModelError(f"{path}: no speech_embedding model (needs {MEL} and {EMBED}); run "
                         "`kwslab fetch-model` (16 MB from PyPI) or set KWSLAB_MODELS")
    return path


def _sessions(folder: str, threads: int) -> tuple:
    """:func:`_open_sessions`, built once per (folder, threads) even when a server's threads
    ask at the same time."""
    with _BUILDING:
        return _open_sessions(folder, threads)


_BUILDING = threading.RLock()


@lru_cache(maxsize=4)
def _open_sessions(folder: str, threads: int) -> tuple:
    """The Mel and embedding sessions of ``folder``, opened once per process.

    The Mel graph ends with ``max(dB, max over its whole input - 80)``: a floor relative to the
    loudest value *in the batch it is given*, so a clip's features would depend on the other
    clips in its batch, and a stream's on how it was cut. The graph is cut before that floor
    (its dB output is returned instead) and :func:`mel_frames` applies a fixed floor, so every
    Mel frame depends only on its own 512 samples.

    The embedding network's time axis has only unpadded convolutions and pools (stride 8
    frames in all), so run over a whole clip's frames it gives exactly the embeddings of its
    windows 8 frames apart, at a fifth of the cost of running the 76-frame windows one by one
    (:data:`STRIDED`). Graphs it cannot be derived for are run window by window.
    """
    from kwslab.utils.onnx import open_session

    path = Path(folder)
    embed = open_session(path / EMBED, threads)
    strided = None
    if (path / STRIDED).is_file():
        strided = open_session(path / STRIDED, threads)
    else:
        try:
            model = _strided(path / EMBED)
        except ImportError:  # a deployment without onnx: windows one by one, same values
            model = None
        if model is not None:
            strided = open_session(model, threads)
    if (path / FLOORLESS).is_file():
        return open_session(path / FLOORLESS, threads), embed, True, strided
    try:
        mel_model, floored = _without_relative_floor(path / MEL)
    except ImportError as e:
        raise MissingExtraError(f"{folder} has no {FLOORLESS}: re-export the model with this "
                                "kwslab, or pip install onnx to derive it") from e
    return open_session(mel_model, threads), embed, floored, strided


def _strided(path: Path) -> bytes | None:
    """The embedding graph taking (n, frames, 32, 1) and giving (n, embeddings, 96), or None.

    Recognised by its two reshapes, (-1, 1, 76, 32) in and (-1, 1, 1, 96) out: the first
    becomes a transpose (NHWC to NCHW with C = 1, any number of frames), the last a transpose
    and reshape that keep the time axis the convolutions leave.
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    reshapes = [n for n in graph.node if n.op_type == "Reshape" and n.input[1] in inits]
    if len(reshapes) != 2:
        return None
    first, last = reshapes
    want = ((first, [-1, 1, WINDOW, 32]), (last, [-1, 1, 1, DIM]))
    if any(numpy_helper.to_array(inits[n.input[1]]).tolist() != v for n, v in want):
        return None
    if first.input[0] != graph.input[0].name or last.output[0] != graph.output[0].name:
        return None
    nodes = list(graph.node)
    i, j = nodes.index(first), nodes.index(last)
    nodes[i] = helper.make_node("Transpose", [first.input[0]], [first.output[0]],
                                perm=[0, 3, 1, 2], name="strided_in")
    nodes[j : j + 1] = [
        helper.make_node("Transpose", [last.input[0]], ["strided_t"], perm=[0, 2, 3, 1],
                         name="strided_out"),
        helper.make_node("Reshape", ["strided_t", "strided_shape"], [last.output[0]],
                         name="strided_flat"),
    ]
    del graph.node[:]
    graph.node.extend(nodes)
    for name in (first.input[1], last.input[1]):
        graph.initializer.remove(inits[name])
    graph.initializer.append(numpy_helper.from_array(np.array([0, -1, DIM], np.int64),
                                                     "strided_shape"))
    dims = graph.input[0].type.tensor_type.shape.dim
    dims[1].Clear()
    dims[1].dim_param = "frames"
    out = graph.output[0].type.tensor_type.shape
    del out.dim[:]
    for name in ("n", "embeddings", "dim"):
        out.dim.add().dim_param = name
    del graph.value_info[:]
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _without_relative_floor(path: Path) -> tuple[bytes, bool]:
    """The Mel graph with its batch-relative floor removed, and whether it had one.

    Recognised by its last node: ``Clip(x, ReduceMax(x) - top_db, inf)``; the graph's output
    becomes ``x``. Graphs of any other shape (test stand-ins) are returned unchanged.
    """
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    last = producer.get(graph.output[0].name)
    floor_input = None
    if last is not None and last.op_type == "Clip" and len(last.input) >= 2:
        node = producer.get(last.input[1])
        while node is not None and node.op_type != "ReduceMax" and node.input:
            node = producer.get(node.input[0])
        if node is not None and node.op_type == "ReduceMax" and node.input[0] == last.input[0]:
            floor_input = last.input[0]
    if floor_input is None:
        return model.SerializeToString(), False
    output = onnx.helper.make_tensor_value_info(floor_input, onnx.TensorProto.FLOAT, None)
    graph.output.pop()
    graph.output.append(output)
    used = {floor_input}
    keep = []
    for node in reversed(graph.node):  # drop the floor's nodes: keep what feeds the output
        if any(out in used for out in node.output):
            keep.append(node)
            used.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(keep))
    return model.SerializeToString(), True


def _stages(path: Path) -> list[bytes] | None:
    """:func:`_strided` cut after each pool that halves time: four graphs a stream runs one
    after the other, each only on the positions new audio adds (see :func:`stage_sessions`).

    Each graph's metadata holds its time ``receptive`` field and ``stride`` (in its input's
    positions), so the runtime needs no onnx package to use them. None where the strided
    graph cannot be derived or the time axis is not a chain of unpadded convolutions and pools.
    """
    import onnx
    import onnx.utils
    from onnx import helper, shape_inference

    strided = _strided(path)
    if strided is None:
        return None
    model = shape_inference.infer_shapes(onnx.load_from_string(strided))
    graph = model.graph
    ops: list[tuple[str, int, int]] = []  # (output, time kernel, time stride) along the chain
    for node in graph.node:
        if node.op_type not in ("Conv", "MaxPool"):
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        pads = attrs.get("pads", [0, 0, 0, 0])
        if pads[0] or pads[2] or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET") \
                or attrs.get("dilations", [1, 1])[0] != 1:
            return None
        ops.append((node.output[0], attrs["kernel_shape"][0], attrs.get("strides", [1, 1])[0]))
    cuts = [out for out, _, stride in ops if stride == 2]
    if len(cuts) != 3:
        return None
    bounds = [graph.input[0].name, *cuts, graph.output[0].name]
    out = []
    for i in range(4):
        sub = onnx.utils.Extractor(model).extract_model([bounds[i]], [bounds[i + 1]])
        first = 0 if i == 0 else [o for o, _, _ in ops].index(bounds[i]) + 1
        last = len(ops) if i == 3 else [o for o, _, _ in ops].index(bounds[i + 1]) + 1
        receptive, stride = 1, 1
        for _, kernel, step in reversed(ops[first:last]):
            receptive, stride = (receptive - 1) * step + kernel, stride * step
        for key, value in (("receptive", receptive), ("stride", stride)):
            entry = sub.metadata_props.add()
            entry.key, entry.value = key, str(value)
        for value in (*sub.graph.input, *sub.graph.output):
            value.type.tensor_type.ClearField("shape")
        out.append(sub.SerializeToString())
    return out


def stage_sessions(folder: str | Path | None = None, threads: int = 1) -> list | None:
    """The four stages of the embedding network, as (session, receptive, stride), or None.

    A stream keeps each stage's input positions that later outputs still need; with 8 new
    Mel frames per embedding, a new embedding costs about a quarter of a whole window's.
    Read from the files :func:`write_derived` writes, else derived here (needs onnx), else
    None: the caller then runs whole windows (:func:`embed_sequence`), with the same values.
    """
    with _BUILDING:
        return _stage_sessions(str(resolve(folder)), threads)


@lru_cache(maxsize=4)
def _stage_sessions(folder: str, threads: int) -> list | None:
    from kwslab.utils.onnx import open_session

    path = Path(folder)
    if all((path / name).is_file() for name in STAGES):
        models: list = [path / name for name in STAGES]
    else:
        try:
            models = _stages(path / EMBED) or []
        except ImportError:
            models = []
    if not models:
        return None
    out = []
    for model in models:
        sess = open_session(model, threads)
        meta = sess.get_modelmeta().custom_metadata_map
        out.append((sess, int(meta["receptive"]), int(meta["stride"])))
    return out


def mel_frames(audio: np.ndarray, folder: str | Path | None = None, threads: int = 1,
               floor_db: float = FLOOR_DB) -> np.ndarray:
    """Scaled log-Mel frames of audio, one every 10 ms, each from its own 512 samples.

    Args:
        audio: float32 in [-1, 1], shape (batch, n) with n >= 512, 16 kHz (already padded).
        floor_db: lowest dB value (16-bit scale) a Mel bin may take.

    Returns:
        float32 (batch, (n - 512) // 160 + 1, 32), scaled as the embedding network expects.
    """
    mel, _, floored, _ = _sessions(str(resolve(folder)), threads)
    x = np.ascontiguousarray(audio, dtype=np.float32) * INT16
    spec = mel.run(None, {mel.get_inputs()[0].name: x})[0].reshape(len(x), -1, 32)
    if floored:
        spec = np.maximum(spec, floor_db)
    return spec / 10.0 + 2.0  # the scaling the embedding network was trained with


def embed_frames(frames: np.ndarray, folder: str | Path | None = None,
                 threads: int = 1) -> np.ndarray:
    """Embeddings of Mel-frame windows: (n, 76, 32) -> (n, 96) float32."""
    _, embed, _, _ = _sessions(str(resolve(folder)), threads)
    x = np.ascontiguousarray(frames, dtype=np.float32).reshape(-1, WINDOW, 32, 1)
    return embed.run(None, {embed.get_inputs()[0].name: x})[0].reshape(len(x), DIM)


def embed_sequence(frames: np.ndarray, folder: str | Path | None = None,
                   threads: int = 1) -> np.ndarray:
    """Embeddings of every 76-frame window 8 frames apart: (b, t, 32) -> (b, k, 96) float32,
    ``k = (t - 76) // 8 + 1``; one run of the strided graph where there is one."""
    _, _, _, strided = _sessions(str(resolve(folder)), threads)
    b, t = frames.shape[:2]
    k = (t - WINDOW) // STEP + 1
    if strided is None:
        idx = np.arange(k)[:, None] * STEP + np.arange(WINDOW)[None, :]
        return embed_frames(frames[:, idx], folder, threads).reshape(b, k, DIM)
    x = np.ascontiguousarray(frames[:, : (k - 1) * STEP + WINDOW, :, None], dtype=np.float32)
    return strided.run(None, {strided.get_inputs()[0].name: x})[0]


def speech_embedding(batch: np.ndarray, context_samples: int, folder: str | Path | None = None,
                     threads: int = 1, floor_db: float = FLOOR_DB) -> np.ndarray:
    """Embeddings of fixed-length clips; each clip's are independent of the rest of the batch.

    Args:
        batch: float32 audio in [-1, 1], shape (batch, n), 16 kHz.
        context_samples: zeros added before and after each clip.
        folder: where the ONNX files are (default: :func:`default_dir`).
        threads: onnxruntime intra-op threads.
        floor_db: see :func:`mel_frames`.

    Returns:
        float32 array (batch, 96, n_embeddings): embedding values x time, like a spectrogram.
    """
    b, n = batch.shape
    k = n_embeddings(n, context_samples)
    out = np.empty((b, DIM, k), dtype=np.float32)
    for s in range(0, b, SUB_BATCH):  # bounds onnxruntime's activation memory
        part = np.pad(batch[s : s + SUB_BATCH].astype(np.float32, copy=False),
                      ((0, 0), (context_samples,) * 2))
        spec = mel_frames(part, folder, threads, floor_db)
        emb = embed_sequence(spec, folder, threads)
        out[s : s + len(part)] = emb.transpose(0, 2, 1)
    return out


@lru_cache(maxsize=8)
def front_end_macs(clip_samples: int, context_samples: int,
                   folder: str | None = None) -> dict[str, int]:
    """Multiply-accumulates of the front end for one clip, counted from the ONNX graphs.

    Conv: (output elements) x (kernel elements x in-channels / groups); MatMul: (output
    elements) x (inner size), after ONNX shape inference on this clip length. Returns
    ``mel`` (the Mel front end on the padded clip), ``embedding`` (all windows: the strided
    graph over the clip's frames where it applies, as it is run) and ``total``.
    """
    import onnx

    path = resolve(folder)
    samples = clip_samples + 2 * context_samples
    k = n_embeddings(clip_samples, context_samples)
    strided = _strided(path / EMBED)
    if strided is not None:
        embed, shape, times = onnx.load_from_string(strided), (1, WINDOW + (k - 1) * STEP, 32, 1), 1
    else:
        embed, shape, times = onnx.load(str(path / EMBED)), (1, WINDOW, 32, 1), k
    out = {"mel": _macs(onnx.load(str(path / MEL)), (1, samples)),
           "embedding": _macs(embed, shape) * times}
    out["total"] = out["mel"] + out["embedding"]
    return out


def _macs(model, shape: tuple[int, ...]) -> int:
    """Conv and MatMul multiply-accumulates of ``model`` for an input of ``shape``."""
    from onnx import numpy_helper, shape_inference

    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, value in zip(dims, shape, strict=True):
        dim.ClearField("dim_param")
        dim.dim_value = value
    graph = shape_inference.infer_shapes(model).graph
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in (*graph.value_info, *graph.output, *graph.input)}
    shapes.update({t.name: list(numpy_helper.to_array(t).shape) for t in graph.initializer})
    macs = 0
    for node in graph.node:
        if node.op_type not in ("Conv", "MatMul"):
            continue
        y, w = shapes[node.output[0]], shapes[node.input[1]]
        inner = int(np.prod(w[1:])) if node.op_type == "Conv" else w[0]
        macs += int(np.prod(y)) * inner
    return macs


def front_end_card(clip_samples: int, context_samples: int) -> dict[str, int | str]:
    """The front end's entry in a model card: its MACs per clip and its files' size."""
    folder = resolve()
    return {"name": "speech_embedding",
            "macs": front_end_macs(clip_samples, context_samples)["total"],
            "size_bytes": sum((folder / name).stat().st_size for name in FILES)}
