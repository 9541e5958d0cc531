"""Figure: what each domain-randomization transform of the release recipe does to one held-out phantom.

    python scripts/augmentation_figure.py   # -> bundles/liver_tumor_seg/docs/augmentations.png

Takes the random transforms of ``train_release.json`` (after patch sampling) exactly as the config builds
them, forces each one to fire (``prob`` = 1) and applies it alone to the same axial patch of a held-out
portal-venous phantom with its tissue map (seed 999, never trained on). Transforms before the random window
work in HU and are shown with the nominal liver window; those after it get the windowed [0, 1] image, as in
training. The first panel is the patch with the nominal window and no augmentation.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "bundles" / "liver_tumor_seg" / "configs"
SKIP = {"SpatialPadd", "BalancedPatchd", "DeleteItemsd"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "bundles" / "liver_tumor_seg" / "docs" / "augmentations.png"))
    args = p.parse_args(argv)
    from monai.bundle import ConfigParser

    from liver3d.phantoms import generate_phantom
    from liver3d.transforms import WindowHUd

    case = generate_phantom(
        np.random.default_rng([999, 0]), shape=(160, 160, 96), phase="portal_venous", n_tumors=4
    )
    parser = ConfigParser()
    parser.read_config([str(CONFIGS / "train.json"), str(CONFIGS / "train_release.json")])
    transforms = parser.get_parsed_content("train#random_transforms")
    k = (
        int(np.argmax((case.label == 2).sum(axis=(0, 1))))
        if (case.label == 2).any()
        else case.image.shape[2] // 2
    )
    lo = max(k - 8, 0)
    sample = {
        "image": torch.as_tensor(case.image[None, :, :, lo : lo + 16].astype(np.float32)),
        "label": torch.as_tensor(case.label[None, :, :, lo : lo + 16].astype(np.float32)),
        "tissue": torch.as_tensor(case.tissue[None, :, :, lo : lo + 16].astype(np.float32)),
    }
    window = WindowHUd("image", "liver")
    panels = [("no augmentation (liver window)", window(dict(sample))["image"])]
    names = [type(tf).__name__ for tf in transforms]
    windowed_from = names.index("RandWindowHUd")  # transforms after it see [0, 1] images, before it HU
    for index, tf in enumerate(transforms):
        name = type(tf).__name__
        if name in SKIP:
            continue
        for attr in ("prob",):
            if hasattr(tf, attr):
                setattr(tf, attr, 1.0)
        inner = getattr(tf, "inner", None)  # liver3d's wrappers keep their randomness there
        if inner is not None:
            inner.prob = 1.0
        tf.set_random_state(seed=7 + index)
        data = {key: value.clone() for key, value in sample.items()}
        if index > windowed_from:
            data = window(data)
        image = tf(data)["image"]
        if index < windowed_from:  # still in HU: shown with the nominal window
            image = window({"image": image})["image"]
        panels.append((name, image))
    cols = 4
    rows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, image) in zip(axes.flat, panels):
        view = np.asarray(image[0, :, :, image.shape[-1] // 2])[::-1, ::-1].T
        ax.imshow(view, cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
    fig.suptitle(
        "Release recipe: each random transform alone (prob forced to 1), held-out phantom", fontsize=9
    )
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
