"""The viewer end to end in a real headless browser (Debian's chromium + chromedriver, driven by Selenium).

Starts ``python -m liver3d.app`` on a free loopback port, uploads a phantom, runs the segmentation bundle,
checks the overlay image, the report and the downloaded label NIfTI, then uploads a corrupt file and checks
the message. Screenshots are kept in ``test-artifacts/`` (the CI artifact). Without chromium the tests skip,
unless ``LIVER3D_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from app_utils import write_untrained_models

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

pytestmark = pytest.mark.slow


def _require_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file()]
    if missing:
        message = f"headless browser not installed ({', '.join(missing)}); `make browser` installs it"
        if os.environ.get("LIVER3D_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _require_browser()
    registry = write_untrained_models(tmp_path_factory.mktemp("app_models"))
    port = _free_port()
    log = open(tmp_path_factory.mktemp("app_log") / "server.log", "w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "liver3d.app",
            "--models",
            str(registry),
            "--port",
            str(port),
            "--max-upload-mb",
            "20",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        process.terminate()
        pytest.fail(f"the app did not start within 120 s: {Path(log.name).read_text()[-2000:]}")
    yield url
    process.terminate()
    process.wait(timeout=30)
    log.close()
    text = Path(log.name).read_text()
    workdir = text.split("temporary files under ")[1].split(" ")[0]
    assert not Path(workdir).exists(), f"the server left {workdir} behind"


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1100",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.downloads = downloads
    yield driver
    driver.quit()


def _page_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def _wait_for_text(driver, text: str, timeout: float = 120) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(lambda d: text in _page_text(d), message=f"waiting for {text!r}")


def _upload(driver, path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    field = WebDriverWait(driver, 60).until(lambda d: d.find_element(By.CSS_SELECTOR, "input[type=file]"))
    field.send_keys(str(path))


def _wait(driver, condition, timeout: float = 60):
    """Wait for ``condition(driver)``, retrying while Streamlit re-renders the elements it looks at."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    ignored = [StaleElementReferenceException, IndexError, StopIteration]
    return WebDriverWait(driver, timeout, ignored_exceptions=ignored).until(condition)


def _click(element) -> bool:
    element.click()
    return True


def _screenshot(driver, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / name))


def test_upload_run_segmentation_view_and_download(server, browser, phantom_dir):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    source = sorted((phantom_dir / "imagesTr").glob("*.nii.gz"))[0]
    browser.get(server)
    _upload(browser, source)
    _wait_for_text(browser, "64 x 64 x 32 voxels")
    _wait(
        browser,
        lambda d: _click(next(b for b in d.find_elements(By.TAG_NAME, "button") if b.text.strip() == "Run")),
    )
    _wait_for_text(browser, "Liver volume")  # the structured report
    images = browser.find_elements(By.CSS_SELECTOR, "[data-testid=stImage] img")
    assert images and images[0].size["width"] > 200  # the slice with its overlay
    assert "done in" in _page_text(browser)  # the progress bar ended
    _screenshot(browser, "viewer_segmentation.png")

    # scrolling: another plane re-renders the image
    before = images[0].get_attribute("src")
    _wait(
        browser,
        lambda d: _click(
            next(e for e in d.find_elements(By.TAG_NAME, "label") if e.text.strip() == "coronal")
        ),
    )
    _wait(
        browser,
        lambda d: (
            d.find_elements(By.CSS_SELECTOR, "[data-testid=stImage] img")[0].get_attribute("src") != before
        ),
    )
    assert "coronal" in _page_text(browser)

    downloads = "[data-testid=stDownloadButton] button"
    _wait(
        browser,
        lambda d: _click(
            next(b for b in d.find_elements(By.CSS_SELECTOR, downloads) if "label map" in b.text)
        ),
    )
    target = browser.downloads / f"{source.name[: -len('.nii.gz')]}_seg.nii.gz"
    WebDriverWait(browser, 60).until(lambda d: target.is_file(), message=f"waiting for {target.name}")
    label, image = nib.load(target), nib.load(source)
    assert label.shape == image.shape and np.allclose(label.affine, image.affine, atol=1e-4)
    assert set(np.unique(np.asarray(label.dataobj))) <= {0, 1, 2}


def test_a_corrupt_upload_shows_the_error_and_runs_nothing(server, browser, phantom_dir, tmp_path):
    from selenium.webdriver.common.by import By

    source = sorted((phantom_dir / "imagesTr").glob("*.nii.gz"))[0]
    corrupt = tmp_path / "broken_scan.nii.gz"
    corrupt.write_bytes(source.read_bytes()[:5000])
    browser.get(server)
    _upload(browser, corrupt)
    _wait_for_text(browser, "broken_scan.nii.gz: ")
    alerts = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "[data-testid=stAlert]")]
    assert any("broken_scan.nii.gz" in a and "truncated" in a for a in alerts), alerts
    run = next(b for b in browser.find_elements(By.TAG_NAME, "button") if b.text.strip() == "Run")
    assert not run.is_enabled()
    _screenshot(browser, "viewer_corrupt_upload.png")
