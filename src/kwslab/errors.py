"""Errors kwslab raises on bad input.

Every error a user can cause is a :class:`KwslabError`; the CLI prints its message on one
line and exits non-zero, so messages name the bad value and, where it helps, the fix.
"""

from __future__ import annotations


class KwslabError(Exception):
    """Base class: a user-facing problem with a one-line explanation."""


class AudioError(KwslabError):
    """An audio file cannot be used (unreadable, empty, truncated, NaN/inf, too long)."""


class DataError(KwslabError):
    """A dataset folder, list file or manifest is missing or malformed."""


class ConfigError(KwslabError):
    """A configuration or search-space file is invalid."""


class ModelError(KwslabError):
    """A run directory or exported model is missing or does not match this version."""


class DownloadError(KwslabError):
    """A download failed, did not verify, or an archive tried to escape its folder."""


class SearchError(KwslabError):
    """A search cannot run: unreachable storage, unknown study or trial, empty result."""


class MissingExtraError(KwslabError):
    """An optional dependency is not installed; the message gives the pip line."""
