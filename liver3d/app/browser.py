"""Driving the viewer from a headless browser: start the server on a loopback port, open Debian's chromium
through Selenium, upload, click, wait. Used by the browser tests and ``scripts/viewer_screenshot.py``.

Needs ``chromium`` and ``chromedriver`` (Debian packages ``chromium`` and ``chromium-driver``;
``scripts/install_browser.sh``) and the ``selenium`` package (the ``dev`` extra).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# Chromium's own background traffic is refused on a closed network; these flags keep it quiet.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
)


def browser_missing() -> list[str]:
    """The browser programs that are not installed (empty when the browser tests can run)."""
    return [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(
    registries: Sequence[str | Path], log_path: str | Path, max_upload_mb: int = 512, timeout: float = 120
) -> Iterator[str]:
    """Run ``python -m liver3d.app`` on a free loopback port until the block ends; yield its URL."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "liver3d.app",
        "--port",
        str(port),
        "--max-upload-mb",
        str(max_upload_mb),
    ]
    command += ["--models", *[str(r) for r in registries]]
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, process, timeout, log_path)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float, log_path) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            break
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(
        f"the viewer did not start within {timeout:.0f} s: {Path(log_path).read_text(encoding='utf-8')[-2000:]}"
    )


def chrome(download_dir: str | Path, profile_dir: str | Path, size: tuple[int, int] = (1400, 1100)):
    """A headless chromium (Selenium WebDriver) that saves downloads to ``download_dir`` without asking."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--window-size={size[0]},{size[1]}", f"--user-data-dir={profile_dir}"):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(download_dir), "download.prompt_for_download": False}
    )
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def wait(driver, condition: Callable, timeout: float = 120, message: str = ""):
    """Wait for ``condition(driver)``, retrying while Streamlit re-renders the elements it looks at."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    ignored = [StaleElementReferenceException, IndexError, StopIteration]
    return WebDriverWait(driver, timeout, ignored_exceptions=ignored).until(condition, message=message)


def page_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def wait_for_text(driver, text: str, timeout: float = 120) -> None:
    wait(driver, lambda d: text in page_text(d), timeout, f"waiting for {text!r}")


def click(driver, css: str, text: str, exact: bool = True, timeout: float = 60) -> None:
    """Click the first element matching ``css`` whose text is (or contains) ``text``."""
    from selenium.webdriver.common.by import By

    def found(d):
        for element in d.find_elements(By.CSS_SELECTOR, css):
            shown = element.text.strip()
            if shown == text or (not exact and text in shown):
                element.click()
                return True
        return False

    wait(driver, found, timeout, f"waiting to click {css} {text!r}")


def upload(driver, path: str | Path) -> None:
    from selenium.webdriver.common.by import By

    field = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "input[type=file]"), 60)
    field.send_keys(str(path))


def choose(driver, box_css: str, option: str, confirm: Callable, attempts: int = 3) -> None:
    """Open the select box ``box_css``, pick ``option``, and wait until ``confirm(driver)`` holds (the page
    re-rendered with the choice); opens it again if the choice did not take."""
    from selenium.common.exceptions import TimeoutException

    for attempt in range(attempts):
        click(driver, f"{box_css} button[aria-label=Open]", "")
        click(driver, "[role=option]", option)
        try:
            wait(driver, confirm, 20, f"waiting for the choice {option!r} to take")
            return
        except TimeoutException:
            if attempt == attempts - 1:
                raise
