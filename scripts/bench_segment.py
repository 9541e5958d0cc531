"""Benchmark: ``liver3d segment`` end to end on a 512x512x300 CT, each stage next to its bare counterpart.

    python scripts/bench_segment.py                 # CPU, shipped weights, 512x512x300 phantom
    python scripts/bench_segment.py --device cuda   # GPU figures (with and without AMP)

Stages, timed on the objects the bundle's ``inference.json`` builds (same transforms, networks, inferer):

| stage | liver3d | bare counterpart (same run) |
|---|---|---|
| read | LoadVolumed + EnsureChannelFirstd + ValidateCTd + Orientationd | SimpleITK ReadImage |
| resample + window | Spacingd + WindowHUd | SimpleITK linear Resample + window |
| stage 1 | CascadeInferer.stage1_probabilities | - |
| stage 2 | the rest of CascadeInferer (liver ROI) | one sliding_window_inference of the same network over the whole volume |
| to input grid | ChannelArgmaxd + KeepLargestConnectedComponentd + ResampleToInputd | - |
| write | SaveSegmentationd (NIfTI + .seg.nrrd) | - |

Then the whole command (``liver3d segment``, a fresh process) with its wall time and peak RSS. Targets: whole
command <= 60 s and <= 4 GiB on 2 cores; cascade >= 2x faster than the whole-volume sliding window; load +
resample + window <= 1.3x SimpleITK. Results go to ``bench_out/bench_segment.json`` and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "bundles" / "liver_tumor_seg"
CONFIGS = BUNDLE / "configs"


def make_ct(path: Path, shape: tuple[int, int, int]) -> Path:
    if path.is_file():
        return path
    from liver3d.io.nifti import save_nifti
    from liver3d.phantoms import generate_phantom

    case = generate_phantom(np.random.default_rng([4242, 0]), shape=shape, phase="portal_venous")
    save_nifti(case.image, case.affine_ras, path)
    return path


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, *args, **kwargs):
    _sync()
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    _sync()
    return out, time.perf_counter() - start


def best_of(runs: int, fn, *args):
    """``fn(*args)`` (a dict of timings) ``runs`` times; the fastest run of each timing (warm caches)."""
    results = [fn(*args) for _ in range(runs)]
    return {k: min(r[k] for r in results) for k in results[0]}


def bundle_objects(device: str, amp: bool, bundle_root: Path = BUNDLE):
    from monai.bundle import ConfigParser

    import liver3d.networks

    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "inference.json"))
    parser.read_meta(str(CONFIGS / "metadata.json"))
    parser["bundle_root"] = str(bundle_root)
    parser["device"] = f"$torch.device('{device}')"
    parser["amp"] = amp
    parser["output_dir"] = str(ROOT / "bench_out" / "bench_segment_outputs")
    parser["input"] = "unused.nii.gz"
    s1, s2 = parser.get_parsed_content("stage1_network"), parser.get_parsed_content("network")
    liver3d.networks.require_member_weights(s1, parser.get_parsed_content("stage1_members"))
    liver3d.networks.require_member_weights(s2, parser.get_parsed_content("stage2_members"))
    s1.eval()
    s2.eval()
    return parser, s1, s2


def sitk_baseline(path: Path, pixdim) -> dict:
    import SimpleITK as sitk

    image, t_read = timed(sitk.ReadImage, str(path))

    def resample_window():
        size = [int(round(n * s / p)) for n, s, p in zip(image.GetSize(), image.GetSpacing(), pixdim)]
        out = sitk.Resample(
            image, size, sitk.Transform(), sitk.sitkLinear, image.GetOrigin(), tuple(pixdim),
            image.GetDirection(), -1024.0, sitk.sitkFloat32,
        )  # fmt: skip
        array = sitk.GetArrayViewFromImage(out)
        return np.clip((array + 100.0) / 300.0, 0, 1)

    _, t_resample = timed(resample_window)
    return {"read": t_read, "resample_window": t_resample}


def stages(path: Path, device: str, amp: bool, bundle_root: Path = BUNDLE) -> dict:
    import torch
    from monai.inferers import sliding_window_inference

    parser, stage1, stage2 = bundle_objects(device, amp, bundle_root)
    pre = parser.get_parsed_content("preprocessing").transforms
    read_tf, resample_tf = (
        pre[:4],
        pre[4:],
    )  # Load, ChannelFirst, Validate, Orientation | Spacing, Window, ...
    data = {"image": str(path)}
    t = {}
    for tf in read_tf:
        data, dt = timed(tf, data)
        t["read"] = t.get("read", 0.0) + dt
    for tf in resample_tf:
        data, dt = timed(tf, data)
        t["resample_window"] = t.get("resample_window", 0.0) + dt
    image = data["image"][None].to(device)
    inferer = parser.get_parsed_content("inferer")
    autocast = torch.autocast(device_type=torch.device(device).type, enabled=amp)
    with torch.no_grad(), autocast:
        _, t["stage1"] = timed(inferer.stage1_probabilities, image)
        pred, total = timed(inferer, image, stage2)
        t["stage2"] = total - t["stage1"]
        roi = parser["roi_size"]
        _, t["bare_whole_volume_sw"] = timed(
            sliding_window_inference, image, roi, parser["sw_batch_size"], stage2,
            overlap=parser["overlap"], mode="gaussian",
        )  # fmt: skip
    data["pred"] = pred[0]
    post = parser.get_parsed_content("postprocessing").transforms
    to_grid = [tf for tf in post if type(tf).__name__ != "SaveSegmentationd"]
    for tf in to_grid:
        data, dt = timed(tf, data)
        t["to_input_grid"] = t.get("to_input_grid", 0.0) + dt
    save = [tf for tf in post if type(tf).__name__ == "SaveSegmentationd"][0]
    _, t["write"] = timed(save, data)
    t["cascade"] = total
    return t


# A small wrapper process runs the command and reports its child's peak RSS: the bench process itself has
# the CT in memory, and a child's ru_maxrss starts from its parent's size at fork.
RSS_WRAPPER = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
)


def whole_command(path: Path, device: str, bundle_root: Path = BUNDLE) -> dict:
    with tempfile.TemporaryDirectory() as out:
        segment = [sys.executable, "-m", "liver3d.cli", "segment", str(path), "-o", out, "--quiet"]
        segment += ["--bundle-root", str(bundle_root)]
        cmd = [sys.executable, "-c", RSS_WRAPPER, *segment, "--device", device]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"liver3d segment failed:\n{proc.stderr[-2000:]}")
        rss = int(proc.stdout.strip().splitlines()[-1]) / 2**20  # KiB -> GiB
        record = json.loads(next(Path(out).glob("*_result.json")).read_text(encoding="utf-8"))
    return {"wall_s": wall, "peak_rss_gib": rss, "command_seconds": record["seconds"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", type=int, nargs=3, default=(512, 512, 300))
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=str(ROOT / "bench_out"))
    p.add_argument("--bundle-root", default=str(BUNDLE), help="whose models/ to time (default: the shipped)")
    args = p.parse_args(argv)
    root = Path(args.bundle_root)
    import torch

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ct = make_ct(out / f"bench_ct_{'x'.join(map(str, args.shape))}.nii.gz", tuple(args.shape))
    from monai.bundle import ConfigParser

    cfg = ConfigParser()
    cfg.read_config(str(CONFIGS / "inference.json"))
    pixdim = cfg["fine_pixdim"]
    # the whole command first, while this process is small; it warms the file cache too
    whole = whole_command(ct, args.device, root)
    sitk = best_of(2, sitk_baseline, ct, pixdim)
    sitk_read, sitk_resample = sitk["read"], sitk["resample_window"]
    amps = [False, True] if args.device.startswith("cuda") else [False]
    results = {
        "shape": args.shape, "device": args.device, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "fine_pixdim": pixdim, "sitk_read_s": sitk_read, "sitk_resample_window_s": sitk_resample,
        "bundle_root": str(root),
        "stages": {("amp" if a else "fp32"): best_of(2, stages, ct, args.device, a, root) for a in amps},
        "whole_command": whole,
    }  # fmt: skip
    st = results["stages"]["fp32"]
    ours_io = st["read"] + st["resample_window"]
    base_io = sitk_read + sitk_resample
    lines = [
        f"{'x'.join(map(str, args.shape))} CT phantom, best of 2 per stage, {args.device}, {results['threads']} torch threads, fine grid {pixdim} mm",
        "",
        "| stage | liver3d s | bare counterpart s | ratio |",
        "|---|---|---|---|",
        f"| read | {st['read']:.2f} | {sitk_read:.2f} (SimpleITK) | {st['read'] / sitk_read:.2f} |",
        f"| resample + window | {st['resample_window']:.2f} | {sitk_resample:.2f} (SimpleITK) | "
        f"{st['resample_window'] / max(sitk_resample, 1e-9):.2f} |",
        f"| load + resample + window | {ours_io:.2f} | {base_io:.2f} | {ours_io / base_io:.2f} |",
        f"| stage 1 (coarse grid) | {st['stage1']:.2f} | | |",
        f"| stage 2 (liver ROI) | {st['stage2']:.2f} | | |",
        f"| cascade (stage 1 + 2) | {st['cascade']:.2f} | {st['bare_whole_volume_sw']:.2f} (whole-volume SW) | "
        f"{st['bare_whole_volume_sw'] / st['cascade']:.2f}x faster |",
        f"| back to the input grid | {st['to_input_grid']:.2f} | | |",
        f"| write NIfTI + .seg.nrrd | {st['write']:.2f} | | |",
        f"| whole `liver3d segment` | {results['whole_command']['wall_s']:.1f} | | "
        f"peak RSS {results['whole_command']['peak_rss_gib']:.2f} GiB |",
    ]
    if "amp" in results["stages"]:
        amp = results["stages"]["amp"]
        lines.append(f"| cascade with AMP | {amp['cascade']:.2f} | {amp['bare_whole_volume_sw']:.2f} | |")
    table = "\n".join(lines)
    print(table)
    (out / "bench_segment.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    (out / "bench_segment.md").write_text(table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
