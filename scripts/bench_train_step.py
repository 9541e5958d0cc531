"""Benchmark: one training step of the cascade's network choices, each built from the bundle's own configs.

    python scripts/bench_train_step.py                          # CPU, 96x96x64 patches, batch 2
    python scripts/bench_train_step.py --device cuda --amp      # a GPU, with mixed precision

For each variant (``train.json`` alone, and with the overlays of :data:`VARIANTS`: nnU-Net's poly schedule
changes nothing per step and is not listed) the script parses the network, loss and optimizer from the configs,
then times forward + loss + backward + optimizer step on random patches of ``--roi-size``. Variants are run in
turn, ``--repeats`` rounds, so a machine busy with something else slows every variant alike; the table gives
the median seconds per step, the parameter count and the ratio against the first variant, measured in the
same run. Results go to ``--out`` (``.json`` and ``.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "bundles" / "liver_tumor_seg" / "configs"
VARIANTS = {
    "UNet (train.json)": [],
    "DynUNet + deep supervision (network_dynunet.json, train_deep_supervision.json)": [
        "network_dynunet.json",
        "train_deep_supervision.json",
    ],
}


def build(overlays: list[str], device: str):
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config([str(CONFIGS / c) for c in ["train.json", *overlays]])
    parser["device"] = f"$torch.device('{device}')"
    network = parser.get_parsed_content("network")
    return network, parser.get_parsed_content("loss"), parser.get_parsed_content("optimizer")


def step_seconds(network, loss_fn, optimizer, image, label, amp: bool) -> float:
    import torch

    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(image.device.type, enabled=amp):
        loss = loss_fn(network(image), label)
    loss.backward()
    optimizer.step()
    if image.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--roi-size", type=int, nargs=3, default=(96, 96, 64))
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5, help="timed rounds (after one warm-up step per variant)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", action="store_true")
    p.add_argument("--out", default=str(ROOT / "bench_out" / "train_step"))
    args = p.parse_args(argv)
    import torch

    torch.manual_seed(0)
    image = torch.rand(args.batch, 1, *args.roi_size, device=args.device)
    label = torch.randint(0, 3, (args.batch, 1, *args.roi_size), device=args.device)
    models = {name: build(overlays, args.device) for name, overlays in VARIANTS.items()}
    for network, loss_fn, optimizer in models.values():
        network.train()
        step_seconds(network, loss_fn, optimizer, image, label, args.amp)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.repeats):
        for name, (network, loss_fn, optimizer) in models.items():
            times[name].append(step_seconds(network, loss_fn, optimizer, image, label, args.amp))
    base = statistics.median(next(iter(times.values())))
    hardware = (
        torch.cuda.get_device_name(0) if args.device.startswith("cuda") else f"{os.cpu_count()} CPU cores"
    ) + f", torch {torch.__version__}, {platform.machine()}"
    rows = [
        {
            "variant": name,
            "parameters_m": round(sum(q.numel() for q in models[name][0].parameters()) / 1e6, 2),
            "median_s_per_step": round(statistics.median(ts), 3),
            "ratio": round(statistics.median(ts) / base, 2),
            "times_s": [round(t, 3) for t in ts],
        }
        for name, ts in times.items()
    ]
    lines = [
        f"Training step (forward, loss, backward, AdamW) on {args.batch} x {'x'.join(map(str, args.roi_size))} "
        f"patches, {args.repeats} rounds, {hardware}, AMP {'on' if args.amp else 'off'}.",
        "",
        "| variant | parameters (M) | median s / step | ratio to UNet |",
        "|---|---|---|---|",
        *(
            f"| {r['variant']} | {r['parameters_m']} | {r['median_s_per_step']} | {r['ratio']} |"
            for r in rows
        ),
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(
        json.dumps({"args": vars(args), "hardware": hardware, "rows": rows}, indent=2)
    )
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
