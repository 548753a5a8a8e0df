"""Hypothesis strategies for the property tests of the audio loader and the service."""

from __future__ import annotations

import struct

from hypothesis import strategies as st

FORMAT_TAGS = (1, 3, 0xFFFE, 2, 6, 7, 0, 0x55)  # PCM, float, extensible, ADPCM, A/mu-law, none, mp3


@st.composite
def wav_headers(draw) -> bytes:
    """A RIFF/WAVE file from a sane header with 0-3 fields made random, sizes that may lie and
    data that may stop short."""
    wild = draw(st.sets(st.sampled_from(["tag", "channels", "rate", "bits", "align", "size",
                                         "riff"]), max_size=3))
    tag = draw(st.sampled_from(FORMAT_TAGS) if "tag" in wild else st.sampled_from([1, 3]))
    channels = draw(st.integers(0, 2000) if "channels" in wild else st.sampled_from([1, 2, 6]))
    rate = draw(st.integers(0, 2**32 - 1) if "rate" in wild
                else st.sampled_from([1000, 8000, 16000, 44100, 655_350]))
    bits = draw(st.integers(0, 70) if "bits" in wild
                else st.sampled_from([8, 16, 24, 32] if tag == 1 else [32, 64]))
    align = draw(st.integers(0, 2**16 - 1)) if "align" in wild else max(1, channels * bits // 8)
    fmt = struct.pack("<HHIIHH", tag, channels & 0xFFFF, rate, (rate * align) & 0xFFFFFFFF,
                      align & 0xFFFF, bits)
    if tag == 0xFFFE:  # cbSize, valid bits, channel mask, sub-format GUID (random)
        fmt += struct.pack("<HHI", 22, bits, draw(st.integers(0, 2**32 - 1)))
        fmt += draw(st.binary(min_size=16, max_size=16))
    payload = draw(st.binary(max_size=3000))
    declared = draw(st.integers(0, 2**32 - 1)) if "size" in wild else len(payload)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if draw(st.booleans()):  # an unknown chunk before the data, maybe of odd size
        extra = draw(st.binary(max_size=9))
        chunks += b"LIST" + struct.pack("<I", len(extra)) + extra + b"\0" * (len(extra) & 1)
    chunks += b"data" + struct.pack("<I", declared) + payload
    riff = draw(st.integers(0, 2**32 - 1)) if "riff" in wild else 4 + len(chunks)
    whole = b"RIFF" + struct.pack("<I", riff) + b"WAVE" + chunks
    return whole[: draw(st.integers(0, len(whole)))] if draw(st.booleans()) else whole
