"""Deployment runtime: exported models with NumPy + onnxruntime only (no torch, no librosa).

``Recognizer.load(export_dir).predict(samples)`` scores one 1 s clip (``load_export`` also
loads an :class:`Ensemble` of exports); :class:`StreamDetector`
slides it over audio of any length. Reading files additionally needs soundfile (and soxr for
other sample rates); ``--mic`` needs sounddevice.
"""

from kwslab.runtime.ensemble import Ensemble, load_export
from kwslab.runtime.recognizer import Prediction, Recognizer, read_export_config
from kwslab.runtime.stream import Detection, StreamConfig, StreamDetector, detect_file

__all__ = ["Detection", "Ensemble", "Prediction", "Recognizer", "StreamConfig", "StreamDetector",
           "detect_file", "load_export", "read_export_config"]
