"""Render local HTML pages in headless Chromium and read back a screenshot and the console.

Why the DevTools protocol over `--remote-debugging-pipe` rather than `--screenshot` plus a scan
of `--enable-logging=stderr`: the pipe gives the page's console as structured events
(Runtime.consoleAPICalled, Runtime.exceptionThrown, Log.entryAdded: uncaught exceptions,
console.error, Content-Security-Policy violations and failed loads), where stderr mixes them
with Chromium's own noise (D-Bus, GPU) in a format that changes between versions; it says when
the page has loaded (Page.loadEventFired) instead of guessing with a delay; and it needs only
the standard library: Chromium reads JSON messages, each ended by a NUL byte, on its file
descriptor 3 and writes its answers and events on descriptor 4.

PNG decoding is by hand (zlib and numpy) so the test needs no image library.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BINARIES = ("chromium", "chromium-browser")  # Debian's package, Ubuntu's name for it
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--remote-debugging-pipe")
WIRE = "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); os.execv(sys.argv[3], sys.argv[3:])"
TIMEOUT_S = 60.0  # for the whole session: a cold start on a loaded machine takes a few seconds


def _high(fd: int) -> int:
    """`fd` moved to the lowest free descriptor >= 10 (close-on-exec, like every descriptor Python opens)."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


def chromium_binary() -> str | None:
    return next((path for name in BINARIES if (path := shutil.which(name))), None)


@dataclass(frozen=True)
class Rendered:
    png: bytes  # screenshot of the whole page at the window's width
    width: int  # CSS pixels the page's content needs: more than the window's means a horizontal scroll bar
    height: int
    errors: list[str]  # console errors, uncaught exceptions, CSP violations and failed loads, as text


class DevTools:
    """One browser over the pipe; `call` sends a command and returns its result, keeping the
    events that arrive meanwhile in `events`."""

    def __init__(self, binary: str, profile: Path) -> None:
        # Our pipe ends sit at descriptors 10 and up, so putting them onto 3 and 4 overwrites neither.
        to_browser_r, self._to_browser = (_high(fd) for fd in os.pipe())
        self._from_browser, from_browser_w = (_high(fd) for fd in os.pipe())
        profile.mkdir(parents=True, exist_ok=True)
        self.stderr = profile / "chromium.log"
        # A fresh Python moves the ends onto 3 and 4 and execs Chromium: a preexec_fn would do the
        # same inside a fork of this (maybe multi-threaded) process, which can deadlock.
        command = [sys.executable, "-c", WIRE, str(to_browser_r), str(from_browser_w),
                   binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"]
        with open(self.stderr, "wb") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                            pass_fds=(to_browser_r, from_browser_w))
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.deadline = time.monotonic() + TIMEOUT_S
        self.events: list[dict] = []
        self._buffer = b""
        self._next_id = 0

    def _read(self) -> dict:
        while b"\0" not in self._buffer:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError(f"chromium did not answer within {TIMEOUT_S} s; its log: {self.log_tail()}")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise EOFError(f"chromium closed the pipe; its log: {self.log_tail()}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str, session: str) -> None:
        seen = lambda m: m.get("method") == method and m.get("sessionId") == session  # noqa: E731
        while not any(seen(m) for m in self.events):
            self.events.append(self._read())

    def log_tail(self) -> str:
        return self.stderr.read_text(errors="replace")[-2000:]

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (EOFError, TimeoutError, OSError):
            pass
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait(10)
            os.close(self._to_browser)
            os.close(self._from_browser)


def _errors(events: list[dict], session: str) -> list[str]:
    errors = []
    for m in events:
        if m.get("sessionId") != session:
            continue
        params = m.get("params", {})
        if m["method"] == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            errors.append(f"{details['text']} {details.get('exception', {}).get('description', '')}".strip())
        elif m["method"] == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            errors.append("console." + params["type"] + ": " + " ".join(str(a.get("value", a.get("description")))
                                                                           for a in params["args"]))
        elif m["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
            errors.append(f"{params['entry']['source']}: {params['entry']['text']}")
    return errors


def render(binary: str, pages: list[Path], profile: Path, window: tuple[int, int] = (1280, 2000)) -> list[Rendered]:
    """Load each page in a fresh tab of one headless browser at `window` (width, height) CSS
    pixels, wait for its load event, and capture the whole page and every console error."""
    tools = DevTools(binary, profile)
    try:
        out = []
        for path in pages:
            target = tools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = tools.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Runtime", "Log", "Page"):  # enabled before navigating: no early message is missed
                tools.call(f"{domain}.enable", session=session)
            tools.call("Emulation.setDeviceMetricsOverride",
                       {"width": window[0], "height": window[1], "deviceScaleFactor": 1, "mobile": False}, session)
            tools.call("Page.navigate", {"url": path.resolve().as_uri()}, session)
            tools.wait_for("Page.loadEventFired", session)
            size = tools.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
            width, height = int(size["width"]), int(size["height"])
            # optimizeForSpeed: Chromium then filters every PNG row the same cheap way, which
            # keeps the decoding below fast; any filter decodes correctly.
            shot = tools.call("Page.captureScreenshot", {
                "format": "png", "optimizeForSpeed": True, "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": window[0], "height": max(height, 1), "scale": 1}}, session)
            out.append(Rendered(base64.b64decode(shot["data"]), width, height, _errors(tools.events, session)))
            tools.call("Target.closeTarget", {"targetId": target})
        return out
    finally:
        tools.close()


# -- PNG ------------------------------------------------------------------------------------------


def decode_png(data: bytes) -> np.ndarray:
    """8-bit RGB or RGBA PNG (not interlaced) -> uint8 array [height, width, channels]."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length  # length, type, body, CRC
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    depth, colour_type, interlace = header[8], header[9], header[12]
    channels = {2: 3, 6: 4}.get(colour_type)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour_type}, interlace {interlace}")
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(height, 1 + width * channels)
    image = np.zeros((height, width * channels), np.uint8)
    previous = np.zeros(width * channels, np.uint8)
    for y in range(height):
        image[y] = previous = _unfilter(raw[y, 0], raw[y, 1:], previous, channels)
    return image.reshape(height, width, channels)


def _unfilter(kind: int, row: np.ndarray, up: np.ndarray, bpp: int) -> np.ndarray:
    """One scanline [width * bpp] back from PNG filter `kind` (0 none, 1 sub, 2 up, 3 average, 4 Paeth)."""
    if kind > 4:
        raise ValueError(f"unknown PNG filter type {kind}")
    if kind == 0:
        return row
    if kind == 2:
        return row + up  # uint8 arithmetic wraps modulo 256, as the filter does
    if kind == 1:  # each byte adds the reconstructed byte bpp to its left: a running sum per channel
        return np.cumsum(row.reshape(-1, bpp), axis=0, dtype=np.uint64).astype(np.uint8).reshape(-1)
    out = bytearray(len(row))
    for i, (x, b) in enumerate(zip(row.tolist(), up.tolist())):
        a = out[i - bpp] if i >= bpp else 0
        if kind == 3:
            out[i] = (x + (a + b) // 2) & 0xFF
            continue
        c = int(up[i - bpp]) if i >= bpp else 0
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        out[i] = (x + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
    return np.frombuffer(bytes(out), np.uint8)
