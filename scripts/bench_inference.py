"""Benchmark: the liver_tumor_seg bundle's inference vs bare ``sliding_window_inference`` in the same run.

Both sides get the same .nii.gz phantom, network weights, ROI size, overlap and sliding-window batch; each runs
in its own process so its peak RSS is its own.

- bare: nibabel load -> the same orient/resample/window transforms -> ``sliding_window_inference`` of the
  stage-2 network over the whole resampled volume -> argmax (what one writes by hand for one network);
- bundle: ``monai.bundle run`` of ``inference.json``: validation, the two-stage cascade (stage 1 on the coarse
  grid, stage 2 in the liver ROI), inversion to the input grid, NIfTI + 3D Slicer output, all written atomically.

    python scripts/bench_inference.py                                   # 512x512x300, CPU
    python scripts/bench_inference.py --shape 128 128 64 --repeats 1    # quick
    python scripts/bench_inference.py --ckpt-dir demo_out/liver_tumor_seg/models   # trained weights (real ROI)
    python scripts/bench_inference.py --device cuda --amp both          # GPU: volumes/min with and without AMP
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "bundles" / "liver_tumor_seg" / "configs"


def _network(device: str):
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "inference.json"))
    return parser.get_parsed_content("network_def").to(device).eval()


def _weights(work: Path, ckpt_dir: str | None) -> Path:
    """Checkpoints for both stages: the given ones, or one random initialisation saved for both sides."""
    import torch

    if ckpt_dir:
        return Path(ckpt_dir)
    models = work / "models"
    for stage in ("stage1", "stage2"):
        torch.manual_seed({"stage1": 1, "stage2": 2}[stage])
        (models / stage).mkdir(parents=True, exist_ok=True)
        torch.save(_network("cpu").state_dict(), models / stage / "model.pt")
    return models


def run_bare(args: argparse.Namespace) -> dict:
    import torch
    from monai.inferers import sliding_window_inference

    from liver3d.transforms.pipelines import ct_preprocessing

    net = _network(args.device)
    net.load_state_dict(torch.load(Path(args.models) / "stage2" / "model.pt", map_location=args.device))
    pre = ct_preprocessing(keys=["image"], pixdim=args.pixdim, window="liver")
    start = time.perf_counter()
    image = pre({"image": args.volume})["image"][None].to(args.device)
    with torch.no_grad(), torch.autocast(device_type=torch.device(args.device).type, enabled=args.use_amp):
        logits = sliding_window_inference(
            image, args.roi_size, args.sw_batch_size, net, overlap=args.overlap, mode="gaussian"
        )
    labels = logits.argmax(1).cpu()
    return {"seconds": time.perf_counter() - start, "voxels": int(labels.numel())}


def run_bundle(args: argparse.Namespace) -> dict:
    from monai.bundle import run

    start = time.perf_counter()
    run(
        config_file=str(CONFIGS / "inference.json"),
        meta_file=str(CONFIGS / "metadata.json"),
        input=args.volume,
        bundle_root=str(Path(args.models).parent),
        ckpt_dir=str(args.models),
        output_dir=args.output_dir,
        fine_pixdim=list(args.pixdim),
        roi_size=list(args.roi_size),
        sw_batch_size=args.sw_batch_size,
        overlap=args.overlap,
        device=f"$torch.device('{args.device}')",
        amp=args.use_amp,
    )
    return {"seconds": time.perf_counter() - start}


def child(args: argparse.Namespace) -> None:
    result = run_bare(args) if args.child == "bare" else run_bundle(args)
    result["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print("RESULT " + json.dumps(result))


def launch(kind: str, args: argparse.Namespace, models: Path, volume: Path, out: Path, amp: bool) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--volume",
        str(volume),
        "--models",
        str(models),
        "--output-dir",
        str(out),
        "--device",
        args.device,
        "--sw-batch-size",
        str(args.sw_batch_size),
        "--overlap",
        str(args.overlap),
        "--roi-size",
        *map(str, args.roi_size),
        "--pixdim",
        *map(str, args.pixdim),
    ] + (["--use-amp"] if amp else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", cwd=ROOT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{kind} run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(512, 512, 300))
    parser.add_argument("--pixdim", type=float, nargs=3, default=(1.5, 1.5, 2.0), help="stage-2 grid, mm")
    parser.add_argument("--roi-size", type=int, nargs=3, default=(96, 96, 64))
    parser.add_argument("--sw-batch-size", type=int, default=2)
    parser.add_argument("--overlap", type=float, default=0.25)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", choices=("off", "on", "both"), default="off")
    parser.add_argument("--ckpt-dir", default=None, help="folder with stage1/model.pt and stage2/model.pt")
    # internal: one measured run in a child process
    parser.add_argument("--child", choices=("bare", "bundle"), help=argparse.SUPPRESS)
    parser.add_argument("--volume", help=argparse.SUPPRESS)
    parser.add_argument("--models", help=argparse.SUPPRESS)
    parser.add_argument("--output-dir", help=argparse.SUPPRESS)
    parser.add_argument("--use-amp", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0

    from liver3d.phantoms.dataset import write_phantom_dataset

    amp_modes = {"off": [False], "on": [True], "both": [False, True]}[args.amp]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_phantom_dataset(work / "data", 1, seed=5, shape=tuple(args.shape))
        volume = next((work / "data" / "imagesTr").glob("*.nii.gz"))
        models = _weights(work, args.ckpt_dir)
        rows = []
        for amp in amp_modes:
            results = {"bare": [], "bundle": []}
            for _ in range(args.repeats):
                for kind in ("bare", "bundle"):
                    results[kind].append(launch(kind, args, models, volume, work / f"out_{kind}", amp))
            rows.append((amp, results))
    print(
        f"volume: {tuple(args.shape)} int16 phantom; network: inference.json network_def; roi {tuple(args.roi_size)}, "
        f"overlap {args.overlap}, sw_batch {args.sw_batch_size}, grid {tuple(args.pixdim)} mm; device {args.device}; "
        f"weights: {'given' if args.ckpt_dir else 'random (ROI = whatever stage 1 finds)'}; median of {args.repeats}"
    )
    print()
    print(
        "| AMP | bare sliding window s | bundle inference s | ratio bundle/bare | bare peak RSS GiB | bundle peak RSS GiB | bundle volumes/min |"
    )
    print("|---|---|---|---|---|---|---|")
    for amp, results in rows:
        bare = statistics.median(r["seconds"] for r in results["bare"])
        bundle = statistics.median(r["seconds"] for r in results["bundle"])
        rss_bare = max(r["peak_rss_gib"] for r in results["bare"])
        rss_bundle = max(r["peak_rss_gib"] for r in results["bundle"])
        print(
            f"| {'on' if amp else 'off'} | {bare:.2f} | {bundle:.2f} | {bundle / bare:.2f} | {rss_bare:.2f} | "
            f"{rss_bundle:.2f} | {60.0 / bundle:.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
