"""The viewer end to end in a real headless browser (Debian's chromium + chromedriver, driven by Selenium).

Starts ``python -m liver3d.app`` on a free loopback port, uploads a phantom, runs the segmentation bundle,
checks the overlay image, the report and the downloaded label NIfTI, then uploads a corrupt file and checks
the message. Screenshots are kept in ``test-artifacts/`` (the CI artifact). Without chromium the tests skip,
unless ``LIVER3D_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes that a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from app_utils import write_untrained_models

from liver3d.app import browser as web

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    missing = web.browser_missing()
    if missing:
        message = f"headless browser not installed ({', '.join(missing)}); `make browser` installs it"
        if os.environ.get("LIVER3D_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    registry = write_untrained_models(tmp_path_factory.mktemp("app_models"))
    log = tmp_path_factory.mktemp("app_log") / "server.log"
    with web.serve([registry], log, max_upload_mb=20) as url:
        yield url
    workdir = log.read_text(encoding="utf-8").split("temporary files under ")[1].split(" ")[0]
    assert not Path(workdir).exists(), f"the server left {workdir} behind"


@pytest.fixture
def browser(tmp_path, request):
    (tmp_path / "downloads").mkdir()
    driver = web.chrome(tmp_path / "downloads", tmp_path / "profile")
    driver.downloads = tmp_path / "downloads"
    yield driver
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        _screenshot(driver, f"failed_{request.node.name}.png")
    driver.quit()


def _enabled_button(driver, text: str) -> bool:
    from selenium.webdriver.common.by import By

    return any(b.text.strip() == text and b.is_enabled() for b in driver.find_elements(By.TAG_NAME, "button"))


def _screenshot(driver, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / name))


def test_upload_run_segmentation_view_and_download(server, browser, phantom_dir):
    from selenium.webdriver.common.by import By

    source = sorted((phantom_dir / "imagesTr").glob("*.nii.gz"))[0]
    browser.get(server)
    web.upload(browser, source)
    web.wait_for_text(browser, "64 x 64 x 32 voxels")
    web.wait(browser, lambda d: _enabled_button(d, "Run"), 60, "waiting for Run to be enabled")
    web.click(browser, "button", "Run")
    web.wait_for_text(browser, "Liver volume")  # the structured report

    def slice_shown(d):  # the slice with its overlay (under load the page may still be re-rendering)
        shown = d.find_elements(By.CSS_SELECTOR, "[data-testid=stImage] img")
        return bool(shown) and shown[0].size["width"] > 200

    web.wait(browser, slice_shown, 30, "waiting for the slice image")
    images = browser.find_elements(By.CSS_SELECTOR, "[data-testid=stImage] img")
    assert images and images[0].size["width"] > 200  # the slice with its overlay
    assert "done in" in web.page_text(browser)  # the progress bar ended
    _screenshot(browser, "viewer_segmentation.png")

    # scrolling: another plane re-renders the image
    before = images[0].get_attribute("src")
    web.click(browser, "label", "coronal")
    image_css = "[data-testid=stImage] img"
    web.wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, image_css)[0].get_attribute("src") != before)
    assert "coronal" in web.page_text(browser)

    web.click(browser, "[data-testid=stDownloadButton] button", "label map", exact=False)
    target = browser.downloads / f"{source.name[: -len('.nii.gz')]}_seg.nii.gz"
    web.wait(browser, lambda d: target.is_file(), 60, f"waiting for {target.name}")
    label, image = nib.load(target), nib.load(source)
    assert label.shape == image.shape and np.allclose(label.affine, image.affine, atol=1e-4)
    assert set(np.unique(np.asarray(label.dataobj))) <= {0, 1, 2}


def test_a_corrupt_upload_shows_the_error_and_runs_nothing(server, browser, phantom_dir, tmp_path):
    from selenium.webdriver.common.by import By

    source = sorted((phantom_dir / "imagesTr").glob("*.nii.gz"))[0]
    corrupt = tmp_path / "broken_scan.nii.gz"
    corrupt.write_bytes(source.read_bytes()[:5000])
    browser.get(server)
    web.upload(browser, corrupt)
    web.wait_for_text(browser, "broken_scan.nii.gz: ")
    alerts = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "[data-testid=stAlert]")]
    assert any("broken_scan.nii.gz" in a and "truncated" in a for a in alerts), alerts
    run = next(b for b in browser.find_elements(By.TAG_NAME, "button") if b.text.strip() == "Run")
    assert not run.is_enabled()
    _screenshot(browser, "viewer_corrupt_upload.png")


def test_a_2d_image_gets_probabilities_cam_and_boxes(server, browser, tmp_path):
    from PIL import Image
    from selenium.webdriver.common.by import By

    array = np.zeros((96, 128), np.uint8)
    array[30:70, 40:90] = 220
    Image.fromarray(array).save(tmp_path / "chest.png")
    browser.get(server)
    web.upload(browser, tmp_path / "chest.png")
    web.wait_for_text(browser, "96 x 128 pixels")
    model_box = "[data-testid=stSidebar] [data-testid=stSelectbox]"
    web.choose(browser, model_box, "xray", lambda d: "image_cls_2d: 2D study" in web.page_text(d))
    web.wait(browser, lambda d: _enabled_button(d, "Run"), 60, "waiting for Run to be enabled")
    web.click(browser, "button", "Run")
    web.wait_for_text(browser, "Predicted: ")
    text = web.page_text(browser)
    assert "pneumonia" in text and "Grad-CAM of" in text and "CAM layer" in text
    assert browser.find_elements(By.CSS_SELECTOR, "[data-testid=stImage] img")
    web.click(browser, "[data-testid=stDownloadButton] button", "Grad-CAM", exact=False)
    target = browser.downloads / "chest_cam.nii.gz"
    web.wait(browser, lambda d: target.is_file(), 60, f"waiting for {target.name}")
    assert nib.load(target).shape == (128, 96, 1)
    _screenshot(browser, "viewer_image2d.png")
