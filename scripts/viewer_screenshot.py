"""Screenshot of the viewer with the demo's models on a held-out phantom (the README's picture), and how long
each model took in the app.

    python scripts/viewer_screenshot.py --models demo_out/app_models.json \
        --ct demo_out/phantoms_test/imagesTr/liver_phantom_s1000_000.nii.gz --out docs/images/viewer.png

Runs every volume model of the registry on the CT (segmentation first), shows the axial slice through the
largest predicted lesion with the liver/tumor overlay, the tumor Grad-CAM and contours, and saves the page.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from liver3d.app import browser as web
from liver3d.app.registry import TASK_TITLES, load_registry


def chosen(entry):
    """Whether the page shows ``entry`` as the picked model (its bundle line in the sidebar)."""
    return lambda driver: f"{entry.bundle}: {TASK_TITLES[entry.task]}" in web.page_text(driver)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", required=True)
    parser.add_argument("--ct", required=True)
    parser.add_argument("--out", default="docs/images/viewer.png")
    args = parser.parse_args(argv)
    ct, out = Path(args.ct).resolve(), Path(args.out)
    volume_models = [e for e in load_registry(args.models) if e.task != "image2d" and not e.missing]
    volume_models.sort(key=lambda e: e.task != "segmentation")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with web.serve([args.models], tmp / "server.log") as url:
            driver = web.chrome(tmp, tmp / "profile", size=(1500, 1250))
            try:
                driver.get(url)
                web.upload(driver, ct)
                web.wait_for_text(driver, "voxels")
                for entry in volume_models:
                    web.choose(
                        driver, "[data-testid=stSidebar] [data-testid=stSelectbox]", entry.name, chosen(entry)
                    )
                    start = time.perf_counter()
                    web.click(driver, "button", "Run")
                    web.wait_for_text(driver, f"{entry.name} (", timeout=600)
                    print(f"{entry.name}: {time.perf_counter() - start:.1f} s in the browser")
                if "go to the largest lesion" in web.page_text(driver):
                    web.click(driver, "button", "go to the largest lesion")
                time.sleep(2)
                out.parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(out))
                print(f"screenshot: {out}")
            finally:
                driver.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
