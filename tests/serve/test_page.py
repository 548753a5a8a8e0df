"""The web page in a real headless Chromium: record through the fake microphone, drop a file.

Chromium's fake capture device plays a WAV of a tone "word" as the microphone; the page must
record it, send it as WAV, and show that word on top of the bars. Uses Debian's chromium
(never a downloaded browser); a missing chromium fails the test, as elsewhere in the suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from serve_audio import word_wav

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
         "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="module")
def browser_for(tmp_path_factory):
    """A function: WAV path -> a Chromium whose microphone plays that file."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: apt install chromium"
    pw = sync_playwright().start()
    browsers = []

    def launch(wav: Path):
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                               args=[*FLAGS, f"--use-file-for-fake-audio-capture={wav}"])
        browsers.append(b)
        return b

    yield launch
    for b in browsers:
        b.close()
    pw.stop()


def test_record_a_word_and_see_it(server, browser_for, tmp_path):
    wav = word_wav("mid", tmp_path / "mid.wav")
    page = browser_for(wav).new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/")
    page.wait_for_function("document.getElementById('status').textContent === 'ready'",
                           timeout=15000)
    assert page.locator(".row").count() == 3
    page.click("#record")
    page.wait_for_function("document.getElementById('status').textContent === 'done'",
                           timeout=20000)
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    assert page.text_content("#top-label") == "mid", page.text_content("#status")
    assert page.locator(".row.top").get_attribute("data-label") == "mid"
    width = page.eval_on_selector(".row.top .fill", "e => parseFloat(e.style.width)")
    assert width > 50
    assert not errors


def test_drop_a_file_and_show_errors(server, browser_for, tmp_path):
    page = browser_for(word_wav("low", tmp_path / "mic.wav")).new_page()
    page.goto(server.url + "/")
    page.wait_for_function("document.getElementById('status').textContent === 'ready'",
                           timeout=15000)
    page.set_input_files("#file", str(word_wav("high", tmp_path / "high.wav")))
    page.wait_for_function("document.getElementById('top-label').textContent === 'high'",
                           timeout=15000)
    bad = tmp_path / "notes.txt"
    bad.write_text("not audio\n" * 10)
    page.set_input_files("#file", str(bad))
    page.wait_for_function("document.getElementById('status').className === 'error'",
                           timeout=15000)
    assert "not an audio file" in page.text_content("#status")
