"""Voice activity: Silero VAD's speech probability every 64 ms of a stream (ONNX, stateful).

A keyword spotter fires on sounds that are not speech at all (music, a tap running); a voice
activity gate, as openWakeWord offers, lets a detection through only if the VAD heard speech
in the window that fired (:attr:`kwslab.runtime.StreamConfig.vad_threshold`). The model
(Silero VAD v4, MIT licence, 1.8 MB) ships in the same openwakeword wheel as the front end;
``kwslab fetch-model`` keeps it and ``kwslab export`` copies it beside the model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kwslab.errors import ModelError
from kwslab.features.embedding import VAD, default_dir
from kwslab.utils.onnx import open_session

FRAME = 1024  # samples per VAD step at 16 kHz (64 ms, a size Silero supports; 640 costs
# about 1.6 times as much for no better word/noise separation on real words at 10 dB)
STATE = (2, 1, 64)  # the model's LSTM state (h and c)


class VoiceActivity:
    """Speech probability of each new 64 ms of a 16 kHz stream; state carries across calls.

    Args:
        path: the Silero VAD ONNX file (see :meth:`load`).
        threads: onnxruntime intra-op threads.
    """

    def __init__(self, path: str | Path, threads: int = 1):
        self.session = open_session(path, threads)
        self.reset()

    @classmethod
    def load(cls, folder: str | Path | None = None, threads: int = 1) -> VoiceActivity:
        """The VAD kept in ``folder`` (an export folder), else the front end's cache.

        Raises:
            ModelError: neither has it (one line naming the fix).
        """
        places = [Path(folder)] if folder else []
        for place in [*places, default_dir()]:
            if (place / VAD).is_file():
                return cls(place / VAD, threads)
        raise ModelError(f"no {VAD} in {' or '.join(str(p) for p in [*places, default_dir()])}"
                         "; run `kwslab fetch-model` (it keeps the VAD in the cache, where "
                         "streams find it; exports made afterwards carry it)")

    def reset(self) -> None:
        """Forget the stream: the model's state and any samples short of a frame."""
        self._h = np.zeros(STATE, np.float32)
        self._c = np.zeros(STATE, np.float32)
        self._rest = np.zeros(0, np.float32)
        self._done = 0  # samples scored so far

    def feed(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add audio (float32 in [-1, 1], 16 kHz); returns (end sample of each new 64 ms
        frame, its speech probability)."""
        audio = np.concatenate([self._rest, np.asarray(samples, np.float32).reshape(-1)])
        n = len(audio) // FRAME
        probs = np.empty(n, np.float32)
        rate = np.array(16000, np.int64)
        for i in range(n):
            out, self._h, self._c = self.session.run(None, {
                "input": audio[None, i * FRAME : (i + 1) * FRAME], "sr": rate,
                "h": self._h, "c": self._c})
            probs[i] = out[0, 0]
        self._rest = audio[n * FRAME :]
        ends = self._done + FRAME * np.arange(1, n + 1, dtype=np.int64)
        self._done += n * FRAME
        return ends, probs
