"""Features: one pure NumPy function shared by training and the runtime, and a disk cache."""

from kwslab.features.mel import compute_features, in_context, mel_filterbank

__all__ = ["compute_features", "in_context", "mel_filterbank"]
