"""The Wyoming server on a real loopback port, driven by the wyoming package's own client.

The model hears tones: "low" (300 Hz) and "high" (2.5 kHz) are its words, "mid" (900 Hz) is its
_unknown_ and quiet noise its _silence_, so a stream with a tone in it "says a word".
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from serve_audio import WORD_AT, stream
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncClient
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.wake import Detect, Detection

from kwslab.errors import MissingExtraError, ModelError
from kwslab.runtime import Recognizer
from kwslab.serve.wyoming import WakeExport, load_exports, start_server

SR = 16000


@pytest.fixture(scope="module")
def exports(wake_export):
    return load_exports([wake_export])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_server(exports, scenario):
    """Run ``await scenario(uri)`` against a server started on a free loopback port."""
    async def main():
        uri = f"tcp://127.0.0.1:{free_port()}"
        server = await start_server(exports, uri)
        try:
            return await asyncio.wait_for(scenario(uri), 120)
        finally:
            await server.stop()

    return asyncio.run(main())


def connect(uri: str) -> AsyncClient:
    return AsyncClient.from_uri(uri, connect_timeout=10, read_timeout=60)


async def until_info(client: AsyncClient) -> list[Event]:
    """Ask for info and read every event before it: the server answers events in order."""
    await client.write_event(Describe().event())
    events = []
    while True:
        event = await client.read_event()
        assert event is not None, "server closed the connection"
        if Info.is_type(event.type):
            return events
        events.append(event)


async def send_audio(client: AsyncClient, x: np.ndarray, rate: int = SR, channels: int = 1,
                     names: list[str] | None = None, chunk_ms: int = 100) -> list[Event]:
    """detect (if names), audio-start, 16-bit chunks, audio-stop; the events that came back."""
    pcm = np.clip(np.repeat(x[:, None], channels, 1) * 32767, -32768, 32767).astype("<i2")
    if names is not None:
        await client.write_event(Detect(names=names).event())
    await client.write_event(AudioStart(rate=rate, width=2, channels=channels).event())
    step = rate * chunk_ms // 1000
    for i in range(0, len(pcm), step):
        await client.write_event(
            AudioChunk(rate=rate, width=2, channels=channels,
                       audio=pcm[i : i + step].tobytes()).event())
        await asyncio.sleep(0)  # let other clients' coroutines run between chunks
    await client.write_event(AudioStop().event())
    return await until_info(client)


def detections(events: list[Event]) -> list[tuple[str, int]]:
    return [(Detection.from_event(e).name, Detection.from_event(e).timestamp)
            for e in events if Detection.is_type(e.type)]


def assert_heard(events: list[Event], word: str) -> None:
    """Exactly one detection, of ``word``, within 0.5 s of where it was placed."""
    assert [e.type for e in events] == ["detection"], events
    (name, ms), = detections(events)
    assert name == word
    assert 1000 * (WORD_AT[0] - 0.5) <= ms <= 1000 * (WORD_AT[1] + 0.5), ms


def test_describe_lists_the_program_and_one_model_per_word(exports, wake_export):
    async def scenario(uri):
        async with connect(uri) as client:
            await client.write_event(Describe().event())
            return await client.read_event()

    event = with_server(exports, scenario)
    assert Info.is_type(event.type)
    (program,) = Info.from_event(event).wake
    assert program.name == "kwslab" and program.installed and program.version
    assert sorted(m.name for m in program.models) == ["high", "low"]  # no _silence_/_unknown_
    for m in program.models:
        assert m.languages == ["en"] and m.installed and m.phrase == m.name and m.version
        assert m.attribution.url == wake_export.resolve().as_uri()


def test_a_word_is_detected_at_its_time_and_noise_is_not(exports):
    async def scenario(uri):
        async with connect(uri) as client:  # three streams on one connection
            return [await send_audio(client, stream(w, seed=i))
                    for i, w in enumerate(["low", None, "high"])]

    low, noise, high = with_server(exports, scenario)
    assert_heard(low, "low")
    assert [e.type for e in noise] == ["not-detected"]
    assert_heard(high, "high")


def test_unknown_word_and_non_words_are_not_detected(exports):
    async def scenario(uri):
        async with connect(uri) as client:
            return [await send_audio(client, stream("mid", seed=3)),
                    await send_audio(client, stream("low", seed=4), names=["high"])]

    unknown, not_asked = with_server(exports, scenario)
    assert [e.type for e in unknown] == ["not-detected"]  # the _unknown_ class never fires
    assert [e.type for e in not_asked] == ["not-detected"]  # low was not asked for


def test_detect_ignores_names_it_does_not_have(exports, caplog):
    async def scenario(uri):
        async with connect(uri) as client:
            return await send_audio(client, stream("low", seed=5), names=["hey_jarvis", "low"])

    assert_heard(with_server(exports, scenario), "low")
    (line,) = [r.getMessage() for r in caplog.records if "hey_jarvis" in r.getMessage()]
    assert "served: high, low" in line


def test_48khz_stereo_is_converted(exports):
    async def scenario(uri):
        async with connect(uri) as client:
            return await send_audio(client, stream("high", rate=48000, seed=6), rate=48000,
                                    channels=2)

    assert_heard(with_server(exports, scenario), "high")


def test_bad_events_are_logged_and_the_connection_survives(exports, caplog):
    chunk = AudioChunk(rate=SR, width=2, channels=1, audio=bytes(3200)).event()

    async def scenario(uri):
        async with connect(uri) as client:
            await client.write_event(chunk)  # before audio-start
            await client.write_event(Event(type="transcribe-my-cat", data={"x": 1}))
            await client.write_event(Event(type="audio-chunk", data={"rate": SR}, payload=b"1"))
            await client.write_event(AudioStart(rate=1, width=2, channels=1).event())
            await client.write_event(AudioStart(rate=SR, width=2, channels=1).event())
            await client.write_event(AudioChunk(rate=SR, width=3, channels=1,
                                                audio=bytes(4800)).event())
            await client.write_event(AudioChunk(rate=SR, width=2, channels=1,
                                                audio=bytes(3201)).event())
            await client.write_event(AudioStop().event())
            bad = await until_info(client)  # still answers
            good = await send_audio(client, stream("low", seed=7))  # and still hears
            return bad, good

    bad, good = with_server(exports, scenario)
    assert [e.type for e in bad] == ["not-detected"]
    assert_heard(good, "low")
    lines = [r.getMessage() for r in caplog.records if r.name == "kwslab.wyoming"]
    assert len(lines) == 7, lines
    for text, line in zip(["before audio-start", "unknown event type 'transcribe-my-cat'",
                           "KeyError", "at 1 Hz: such chunks will be dropped",
                           "audio-start during a stream", "width 3", "3201 bytes"], lines,
                          strict=True):
        assert text in line and "\n" not in line, (text, line)


def test_a_client_leaving_mid_stream_does_not_stop_the_server(exports, caplog):
    async def scenario(uri):
        async with connect(uri) as gone:
            await gone.write_event(AudioStart(rate=SR, width=2, channels=1).event())
            await gone.write_event(AudioChunk(rate=SR, width=2, channels=1,
                                              audio=bytes(3200)).event())
            await until_info(gone)
        host, port = uri.removeprefix("tcp://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(json.dumps({"type": "audio-chunk", "payload_length": 6400}).encode()
                     + b"\n" + bytes(100))  # promises 6400 bytes, sends 100, hangs up
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        async with connect(uri) as client:
            return await send_audio(client, stream("high", seed=8))

    assert_heard(with_server(exports, scenario), "high")
    lines = [r.getMessage() for r in caplog.records if r.name == "kwslab.wyoming"]
    assert any("left mid-stream" in line for line in lines), lines
    assert any("connection lost (IncompleteReadError)" in line for line in lines), lines


def test_a_line_that_is_not_an_event_is_logged_and_others_are_served(exports, caplog):
    async def scenario(uri):
        host, port = uri.removeprefix("tcp://").split(":")
        closed = []
        for line in (b"garbage\n", b'{"no": "type"}\n', b"[1, 2]\n"):
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(line)
            await writer.drain()
            closed.append(await asyncio.wait_for(reader.read(), 10) == b"")  # hung up
            writer.close()
            await writer.wait_closed()
        async with connect(uri) as client:
            return closed, await send_audio(client, stream("low", seed=9))

    closed, events = with_server(exports, scenario)
    assert closed == [True, True, True]
    assert_heard(events, "low")
    lines = [r.getMessage() for r in caplog.records if r.name == "kwslab.wyoming"]
    assert sum("not a Wyoming event" in line for line in lines) == 3, lines


def test_two_clients_at_once_keep_their_own_streams(exports):
    async def scenario(uri):
        async def one(word, seed):
            async with connect(uri) as client:
                return await send_audio(client, stream(word, seed=seed), chunk_ms=50)

        return await asyncio.gather(one("low", 9), one(None, 10), one("high", 11))

    low, noise, high = with_server(exports, scenario)
    assert_heard(low, "low")
    assert [e.type for e in noise] == ["not-detected"]
    assert_heard(high, "high")


def test_thresholds_come_from_the_export(wake_export):
    rec = Recognizer.load(wake_export)
    ex = WakeExport.of(wake_export, rec, threshold=0.6)
    assert ex.cfg.word_thresholds == () and ex.cfg.threshold == 0.6
    assert ex.words == ("low", "high")
    rec.meta = {**rec.meta, "thresholds": {"low": 0.95}}  # as a config.json with thresholds
    ex = WakeExport.of(wake_export, rec)
    assert ex.cfg.word_thresholds == (("low", 0.95),) and ex.cfg.threshold == 0.8
    rec.meta = {**rec.meta, "thresholds": {"lo": 0.9}}
    with pytest.raises(ModelError, match="threshold 'lo'"):
        WakeExport.of(wake_export, rec)
    with pytest.raises(ModelError, match="word 'low' is in both"):
        load_exports([wake_export, wake_export])


def test_exports_on_one_front_end_share_one_detector(wake_export, tmp_path):
    """Two exports (here one word each, each its own copy of the model) run on one detector
    and one front end, each with its own words and thresholds: each word is still heard."""
    import shutil
    from dataclasses import replace

    from kwslab.runtime.frontend import MelStream
    from kwslab.serve.wyoming import _Stream

    copy = shutil.copytree(wake_export, tmp_path / "copy")
    low = WakeExport.of(wake_export, Recognizer.load(wake_export))
    high = WakeExport.of(copy, Recognizer.load(copy))
    low = replace(low, cfg=replace(low.cfg, ignore=(*low.cfg.ignore, "high")), words=("low",))
    high = replace(high, cfg=replace(high.cfg, ignore=(*high.cfg.ignore, "low"),
                                     threshold=0.7), words=("high",))
    (det,) = _Stream([low, high], None).detectors
    assert isinstance(det.front, MelStream) and len(det.recognizers) == 2
    assert [t.thresholds[t.labels.index(w)] for t, w in zip(det.triggers, ["low", "high"],
                                                                strict=True)] == [0.8, 0.7]

    async def scenario(uri):
        async with connect(uri) as client:
            heard_high = await send_audio(client, stream("high"))
            heard_low = await send_audio(client, stream("low"))
            asked_low = await send_audio(client, stream("high"), names=["low"])
        return heard_high, heard_low, asked_low

    heard_high, heard_low, asked_low = with_server([low, high], scenario)
    assert_heard(heard_high, "high")
    assert_heard(heard_low, "low")
    assert [e.type for e in asked_low] == ["not-detected"]


def test_missing_wyoming_names_the_extra(monkeypatch, capsys, wake_export):
    for name in [m for m in sys.modules if m == "wyoming" or m.startswith("wyoming.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "kwslab.serve.wyoming")
    with pytest.raises(MissingExtraError, match=r"pip install 'kwslab\[wyoming\]'"):
        import kwslab.serve.wyoming  # noqa: F401

    from kwslab.cli import main

    with pytest.raises(SystemExit) as e:
        main(["wyoming", str(wake_export)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pip install 'kwslab[wyoming]'" in err


def test_the_command_serves_home_assistant(wake_export, tmp_path):
    port = free_port()
    log = tmp_path / "wyoming.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kwslab", "wyoming", str(wake_export),
             "--uri", f"tcp://127.0.0.1:{port}"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        async def ask():
            deadline = time.monotonic() + 60
            while True:
                try:
                    async with connect(f"tcp://127.0.0.1:{port}") as client:
                        words = await send_audio(client, stream("low", seed=12))
                        await client.write_event(Describe().event())
                        return words, await client.read_event()
                except ConnectionRefusedError:
                    assert proc.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, log.read_text()
                    await asyncio.sleep(0.2)

        words, info = asyncio.run(ask())
        assert_heard(words, "low")
        assert sorted(m.name for m in Info.from_event(info).wake[0].models) == ["high", "low"]
    finally:
        proc.terminate()
        proc.wait(10)
    assert "serving low, high on tcp://127.0.0.1:" in log.read_text()


def test_a_bad_or_busy_uri_is_one_line(exports):
    from kwslab.errors import ConfigError

    with pytest.raises(ConfigError, match="--uri 'http://x:1'"):
        asyncio.run(start_server(exports, "http://x:1"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        uri = f"tcp://127.0.0.1:{busy.getsockname()[1]}"
        with pytest.raises(ConfigError, match="cannot listen there"):
            asyncio.run(start_server(exports, uri))
