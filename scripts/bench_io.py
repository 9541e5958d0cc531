"""Benchmark: load + orient + resample + window of a CT volume through liver3d vs a plain nibabel load.

Both read the same .nii.gz in the same run (gzip decompression dominates either way); the table gives the
median of ``--repeats`` runs and the ratio liver3d / nibabel.

    python scripts/bench_io.py                      # 512x512x300 phantom, as in issue 2
    python scripts/bench_io.py --shape 128 128 64   # quick
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from liver3d.phantoms.dataset import write_phantom_dataset
from liver3d.transforms.pipelines import ct_preprocessing


def time_it(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(512, 512, 300))
    parser.add_argument("--pixdim", type=float, nargs=3, default=(1.5, 1.5, 2.0), help="target spacing, mm")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        write_phantom_dataset(tmp, 1, seed=7, shape=tuple(args.shape))
        path = str(next(Path(tmp, "imagesTr").glob("*.nii.gz")))
        header = nib.load(path)
        pre = ct_preprocessing(keys=["image"], pixdim=args.pixdim, window="liver")

        def plain() -> np.ndarray:
            return nib.load(path).get_fdata(dtype=np.float32)

        def liver3d() -> torch.Tensor:
            return pre({"image": path})["image"]

        out = liver3d()
        t_plain = time_it(plain, args.repeats)
        t_ours = time_it(liver3d, args.repeats)
        size_mb = Path(path).stat().st_size / 1e6
    print(
        f"volume: {tuple(header.shape)} int16, {' x '.join(f'{s:.2f}' for s in header.header.get_zooms())} mm, "
        f"{''.join(nib.aff2axcodes(header.affine))}, {size_mb:.1f} MB .nii.gz; output {tuple(out.shape)} at {args.pixdim} mm"
    )
    print(f"torch threads: {torch.get_num_threads()}, repeats: {args.repeats} (median)")
    print()
    print(f"| {'pipeline':<52} | {'seconds':>8} |")
    print(f"|{'-' * 54}|{'-' * 10}|")
    print(f"| {'nibabel load (get_fdata float32)':<52} | {t_plain:8.2f} |")
    print(f"| {'liver3d load+validate+orient+resample+window':<52} | {t_ours:8.2f} |")
    print(f"| {'ratio liver3d / nibabel':<52} | {t_ours / t_plain:8.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
