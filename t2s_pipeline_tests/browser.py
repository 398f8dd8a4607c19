"""Screenshots of the Dagster UI with headless Chromium, driven over the DevTools protocol (websockets, which
dagster-webserver installs): a viewport of a set size, the page loaded and left to settle, then captured.
(`chromium --screenshot` alone sized the viewport from the window, cutting the page's bottom.)"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def screenshot(chromium: str, url: str, out: Path, profile: Path, settle_s: float = 12.0, width: int = 1400,
               height: int = 900) -> Path:
    """Load `url` in a fresh profile, wait `settle_s`, capture the viewport to `out`."""
    from websockets.sync.client import connect

    port = _free_port()
    browser = subprocess.Popen(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--remote-debugging-port={port}", f"--user-data-dir={profile}", f"--window-size={width},{height}",
         "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=5))
                page = next(t for t in targets if t["type"] == "page")
                break
            except (OSError, StopIteration):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"chromium's DevTools endpoint did not answer on port {port}")
                time.sleep(0.3)
        with connect(page["webSocketDebuggerUrl"], max_size=64 << 20) as ws:
            ids = iter(range(1, 1 << 30))

            def call(method: str, **params):
                n = next(ids)
                ws.send(json.dumps({"id": n, "method": method, "params": params}))
                while True:
                    message = json.loads(ws.recv(timeout=60))
                    if message.get("id") == n:
                        if "error" in message:
                            raise RuntimeError(f"{method}: {message['error']}")
                        return message.get("result", {})

            call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
            call("Page.enable")
            call("Page.navigate", url=url)
            time.sleep(settle_s)
            out.write_bytes(base64.b64decode(call("Page.captureScreenshot", format="png")["data"]))
    finally:
        browser.terminate()
        browser.wait(timeout=30)
    return out
