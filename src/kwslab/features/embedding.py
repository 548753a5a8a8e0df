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
``ceil(n / 160) - 3`` Mel frames (10 ms hop); the embedding network reads windows of 76 frames
(0.775 s) every 8 frames (80 ms), so a padded 1.5 s clip yields 9 embeddings: (96, 9).
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from kwslab.errors import ConfigError, DownloadError, MissingExtraError, ModelError

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
FLOORLESS = "melspectrogram_floorless.onnx"  # MEL cut before its batch-relative floor; made
# by fetch() and export (needs onnx), so a deployed runtime needs only onnxruntime
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
    frames = -(-(clip_samples + 2 * context_samples) // HOP) - 3
    if frames < WINDOW:
        raise ConfigError(f"speech_embedding needs >= {(WINDOW + 3) * HOP} samples with "
                         f"context, got {clip_samples + 2 * context_samples}")
    return (frames - WINDOW) // STEP + 1


def is_ready(folder: str | Path) -> bool:
    """Whether ``folder`` holds both ONNX files."""
    return all((Path(folder) / name).is_file() for name in FILES)


def fetch(dest: str | Path | None = None, *, url: str = WHEEL_URL, sha256: str = WHEEL_SHA256,
          progress: bool = True) -> Path:
    """Download the wheel (16 MB, resumable), check it, keep the two ONNX files in ``dest``.

    Returns ``dest`` at once if it already holds them. Each file is checked against
    :data:`FILES` and written atomically, so a killed run leaves no half file.

    Raises:
        DownloadError: network failure, checksum mismatch, or a wheel without the files.
    """
    from kwslab.utils.download import download_file

    dest = Path(dest) if dest else default_dir()
    if is_ready(dest):
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    wheel = download_file(url, dest / "openwakeword.whl", sha256=sha256, progress=progress)
    try:
        with zipfile.ZipFile(wheel) as zf:
            for name, want in FILES.items():
                try:
                    data = zf.read(MEMBER_DIR + name)
                except KeyError:
                    raise DownloadError(f"{url}: the wheel has no {MEMBER_DIR}{name}") from None
                got = hashlib.sha256(data).hexdigest()
                if got != want:
                    raise DownloadError(f"{url}: {name} has SHA-256 {got}, expected {want}")
                tmp = dest / f".{name}.tmp"
                tmp.write_bytes(data)
                os.replace(tmp, dest / name)
    except zipfile.BadZipFile as e:
        raise DownloadError(f"{url}: not a wheel (zip) file: {e}") from e
    wheel.unlink()
    write_floorless(dest)
    return dest


def write_floorless(folder: str | Path) -> bool:
    """Write :data:`FLOORLESS` beside :data:`MEL` (atomically) if the graph has the floor.

    Returns whether it did; graphs without the floor (test stand-ins) are used as they are.
    """
    folder = Path(folder)
    model, floored = _without_relative_floor(folder / MEL)
    if floored:
        tmp = folder / f".{FLOORLESS}.tmp"
        tmp.write_bytes(model)
        os.replace(tmp, folder / FLOORLESS)
    return floored


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


@lru_cache(maxsize=4)
def _sessions(folder: str, threads: int) -> tuple:
    """The Mel and embedding sessions of ``folder``, opened once per process.

    The Mel graph ends with ``max(dB, max over its whole input - 80)``: a floor relative to the
    loudest value *in the batch it is given*, so a clip's features would depend on the other
    clips in its batch, and a stream's on how it was cut. The graph is cut before that floor
    (its dB output is returned instead) and :func:`mel_frames` applies a fixed floor, so every
    Mel frame depends only on its own 512 samples.
    """
    from kwslab.utils.onnx import open_session

    embed = open_session(Path(folder) / EMBED, threads)
    if (Path(folder) / FLOORLESS).is_file():
        return open_session(Path(folder) / FLOORLESS, threads), embed, True
    try:
        mel_model, floored = _without_relative_floor(Path(folder) / MEL)
    except ImportError as e:
        raise MissingExtraError(f"{folder} has no {FLOORLESS}: re-export the model with this "
                                "kwslab, or pip install onnx to derive it") from e
    return open_session(mel_model, threads), embed, floored


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


def mel_frames(audio: np.ndarray, folder: str | Path | None = None, threads: int = 1,
               floor_db: float = FLOOR_DB) -> np.ndarray:
    """Scaled log-Mel frames of audio, one every 10 ms, each from its own 512 samples.

    Args:
        audio: float32 in [-1, 1], shape (batch, n) with n >= 512, 16 kHz (already padded).
        floor_db: lowest dB value (16-bit scale) a Mel bin may take.

    Returns:
        float32 (batch, (n - 512) // 160 + 1, 32), scaled as the embedding network expects.
    """
    mel, _, floored = _sessions(str(resolve(folder)), threads)
    x = np.ascontiguousarray(audio, dtype=np.float32) * INT16
    spec = mel.run(None, {mel.get_inputs()[0].name: x})[0].reshape(len(x), -1, 32)
    if floored:
        spec = np.maximum(spec, floor_db)
    return spec / 10.0 + 2.0  # the scaling the embedding network was trained with


def embed_frames(frames: np.ndarray, folder: str | Path | None = None,
                 threads: int = 1) -> np.ndarray:
    """Embeddings of Mel-frame windows: (n, 76, 32) -> (n, 96) float32."""
    _, embed, _ = _sessions(str(resolve(folder)), threads)
    x = np.ascontiguousarray(frames, dtype=np.float32).reshape(-1, WINDOW, 32, 1)
    return embed.run(None, {embed.get_inputs()[0].name: x})[0].reshape(len(x), DIM)


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
    idx = np.arange(k)[:, None] * STEP + np.arange(WINDOW)[None, :]  # (k, 76) frame indices
    out = np.empty((b, DIM, k), dtype=np.float32)
    for s in range(0, b, SUB_BATCH):  # bounds onnxruntime's activation memory
        part = np.pad(batch[s : s + SUB_BATCH].astype(np.float32, copy=False),
                      ((0, 0), (context_samples,) * 2))
        spec = mel_frames(part, folder, threads, floor_db)
        emb = embed_frames(spec[:, idx], folder, threads)
        out[s : s + len(part)] = emb.reshape(len(part), k, DIM).transpose(0, 2, 1)
    return out


@lru_cache(maxsize=8)
def front_end_macs(clip_samples: int, context_samples: int,
                   folder: str | None = None) -> dict[str, int]:
    """Multiply-accumulates of the front end for one clip, counted from the ONNX graphs.

    Conv: (output elements) x (kernel elements x in-channels / groups); MatMul: (output
    elements) x (inner size), after ONNX shape inference on this clip length. Returns
    ``mel`` (the Mel front end on the padded clip), ``embedding`` (all windows) and ``total``.
    """
    import onnx
    from onnx import numpy_helper, shape_inference

    path = resolve(folder)
    k = n_embeddings(clip_samples, context_samples)
    out = {}
    for key, name, shape in (("mel", MEL, (1, clip_samples + 2 * context_samples)),
                             ("embedding", EMBED, (1, WINDOW, 32, 1))):
        model = onnx.load(str(path / name))
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
        out[key] = macs * (k if key == "embedding" else 1)
    out["total"] = out["mel"] + out["embedding"]
    return out


def front_end_card(clip_samples: int, context_samples: int) -> dict[str, int | str]:
    """The front end's entry in a model card: its MACs per clip and its files' size."""
    folder = resolve()
    return {"name": "speech_embedding",
            "macs": front_end_macs(clip_samples, context_samples)["total"],
            "size_bytes": sum((folder / name).stat().st_size for name in FILES)}
