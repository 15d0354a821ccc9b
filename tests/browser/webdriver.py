"""A minimal W3C WebDriver client for Debian's chromedriver, over HTTP with the standard library
(selenium's client pins urllib3 ≥ 2, which the lint tools' checkov cannot share a venv with).

Only what the browser tests use: open a URL, run a script, find an element, type, press keys,
take a screenshot. chromedriver listens on 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C element reference key
KEYS = {"tab": "\ue004", "enter": "\ue007", "shift": "\ue008", "space": "\ue00d", "right": "\ue014"}
INSTALL = "apt-get install chromium chromium-driver (Debian's packages)"


def find_browser() -> tuple[str, str]:
    """(chromium, chromedriver) paths; raises with how to install them when either is missing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        raise RuntimeError(f"the browser tests need Chromium and its driver: {INSTALL}")
    return chromium, driver


class WebDriverError(AssertionError):
    pass


class Browser:
    """One headless Chromium session driven through chromedriver."""

    def __init__(self, width: int = 1200, height: int = 1600) -> None:
        chromium, driver = find_browser()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [driver, f"--port={self.port}", "--allowed-ips=127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if self._call("GET", "/status")["ready"]:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError("chromedriver did not start")
            time.sleep(0.1)
        args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--window-size={width},{height}",
            "--no-first-run",
            "--disable-extensions",
        ]
        caps = {"browserName": "chrome", "goog:chromeOptions": {"binary": chromium, "args": args}}
        self.session = self._call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})["sessionId"]

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())["value"]
        except urllib.error.HTTPError as exc:
            raise WebDriverError(f"{method} {path}: {exc.read().decode(errors='replace')[:2000]}") from None

    def _s(self, method: str, path: str, body: Any = None) -> Any:
        return self._call(method, f"/session/{self.session}{path}", body)

    def get(self, url: str) -> None:
        self._s("POST", "/url", {"url": url})

    @property
    def url(self) -> str:
        return str(self._s("GET", "/url"))

    def js(self, script: str, *args: Any) -> Any:
        """Run `script` (a function body: use `return`) in the page."""
        return self._s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait(self, script: str, timeout: float = 15.0) -> Any:
        """Until `script` returns something truthy; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.js(script)
            if found:
                return found
            if time.monotonic() > deadline:
                raise WebDriverError(f"timed out waiting for: {script}")
            time.sleep(0.1)

    def element(self, css: str) -> str:
        return str(self._s("POST", "/element", {"using": "css selector", "value": css})[ELEMENT])

    def type(self, css: str, text: str) -> None:
        self._s("POST", f"/element/{self.element(css)}/value", {"text": text})

    def keys(self, *names: str) -> None:
        """Press keys on whatever has focus, as a person would (`tab`, `enter`…)."""
        actions = []
        for name in names:
            key = KEYS[name]
            actions += [{"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]
        self._s("POST", "/actions", {"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self._s("GET", "/screenshot")))
        return path

    def close(self) -> None:
        try:
            self._s("DELETE", "")
        finally:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
