"""Two-stage (cascade) liver and tumor segmentation as a MONAI inferer.

Stage 1 segments liver and tumor on a coarse grid (the input downsampled by ``coarse_factor``); its liver
mask, upsampled to the input grid, gives a bounding box (plus ``margin_mm``). Stage 2 segments liver and tumor
inside that box at full resolution. The merged result has the input's grid: stage-2 probabilities inside the
box, background outside.

Inference options (``inference.json`` keys of the same name, chosen on validation phantoms by
``scripts/select_inference.py``): ``mirror_axes`` averages each stage's logits over mirror images
(``MirroredPredictor``, nnU-Net's test-time augmentation); ``stage1_weight`` blends the stage-1 probabilities
into stage 2's inside the box (0: stage 2 alone), either every class (``stage1_blend="classes"``) or only the
liver-including-tumor outline (``"foreground"``: the blended foreground probability is shared among liver and
tumor as stage 2 shares it, so stage 1's coarse context shapes the organ while lesions stay stage 2's);
``padding_mode`` is how windows that pass the edge of the
scan are padded (``constant``: zeros, i.e. the bottom of the window; ``replicate``: the edge slice continued,
so a liver cut by the top of the scan continues instead of ending in a band of fat).

Both stages run by sliding window; ``sw_device`` keeps the stitching buffer (and ``device`` the network) where
you choose, so a 512x512x600 CT fits a small GPU with ``sw_device="cuda"``, ``device="cpu"``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.data import MetaTensor
from monai.inferers import Inferer, sliding_window_inference
from monai.transforms import KeepLargestConnectedComponent
from monai.utils import convert_to_dst_type

from liver3d.geometry import margin_voxels, mask_bounding_box, voxel_spacing
from liver3d.inference.mirroring import MirroredPredictor
from liver3d.labels import load_label_table


def liver_box(mask: torch.Tensor, margin_vox: Sequence[int]) -> tuple[slice, slice, slice] | None:
    """Bounding box (spatial slices) of a (X, Y, Z) boolean mask widened by ``margin_vox``; None when empty."""
    return mask_bounding_box(mask, margin_vox)  # type: ignore[return-value]


BLEND_SCOPES = ("classes", "foreground")


def blend_foreground(coarse: torch.Tensor, fine: torch.Tensor, stage1_weight: float) -> torch.Tensor:
    """Blend two (C, ...) probability maps over the foreground only (channel 0 is background).

    The foreground probability (the sum of the non-background classes) is ``stage1_weight`` of ``coarse``'s plus
    the rest of ``fine``'s; it is then shared among the foreground classes in the proportions ``fine`` gives
    them, or ``coarse``'s where ``fine`` sees no foreground at all (equal shares where neither does). So the
    coarse map moves the organ's outline and never the liver/tumor split inside it. Sums to 1 per voxel.
    """
    fine_total = fine[1:].sum(0, keepdim=True)  # summed, not 1 - background: the shares must sum to 1
    coarse_total = coarse[1:].sum(0, keepdim=True)
    foreground = stage1_weight * coarse_total + (1.0 - stage1_weight) * fine_total
    eps = 1e-6
    equal = torch.full_like(fine[1:], 1.0 / (fine.shape[0] - 1))
    coarse_shares = torch.where(coarse_total > eps, coarse[1:] / coarse_total.clamp_min(eps), equal)
    shares = torch.where(fine_total > eps, fine[1:] / fine_total.clamp_min(eps), coarse_shares)
    return torch.cat([1.0 - foreground, foreground * shares])


class CascadeInferer(Inferer):
    """Run ``stage1`` on a coarse copy of the input, then ``network`` (stage 2) in the liver ROI.

    Args:
        stage1: the coarse network (trained on the input's spacing times ``coarse_factor``).
        roi_size: sliding-window size of both stages, voxels.
        coarse_factor: stage-1 grid = input grid / factor (int or per axis).
        margin_mm: margin around the stage-1 liver, mm (uses the input's ``pixdim`` when it is a MetaTensor).
        sw_batch_size, overlap, mode, padding_mode: as in ``monai.inferers.sliding_window_inference``.
        mirror_axes: spatial axes to mirror at test time (empty: none).
        stage1_weight: weight of the stage-1 probabilities in the box, 0..1.
        stage1_blend: ``"classes"`` blends every class, ``"foreground"`` only background vs the rest.
        sw_device: where windows run; device: where the stitched output is kept (None: the input's).

    Returns probabilities (B, C, X, Y, Z) on the input grid.
    """

    def __init__(
        self,
        stage1: torch.nn.Module,
        roi_size: Sequence[int] = (96, 96, 64),
        coarse_factor: int | Sequence[int] = 2,
        margin_mm: float = 15.0,
        sw_batch_size: int = 2,
        overlap: float = 0.25,
        mode: str = "gaussian",
        sw_device: str | torch.device | None = None,
        device: str | torch.device | None = None,
        stage2_roi_size: Sequence[int] | None = None,
        mirror_axes: Sequence[int] = (),
        stage1_weight: float = 0.0,
        padding_mode: str = "constant",
        stage1_blend: str = "classes",
    ) -> None:
        super().__init__()
        if not 0.0 <= stage1_weight <= 1.0:
            raise ValueError(f"stage1_weight must lie in [0, 1], got {stage1_weight}")
        if stage1_blend not in BLEND_SCOPES:
            raise ValueError(f"stage1_blend must be one of {BLEND_SCOPES}, got {stage1_blend!r}")
        self.stage1_blend = stage1_blend
        self.mirror_axes = tuple(mirror_axes)
        self.stage1_weight = float(stage1_weight)
        self.stage1 = stage1
        self.roi_size = tuple(roi_size)
        self.stage2_roi_size = tuple(stage2_roi_size) if stage2_roi_size else self.roi_size
        self.factor = (coarse_factor,) * 3 if isinstance(coarse_factor, int) else tuple(coarse_factor)
        self.margin_mm = margin_mm
        self.sw = {
            "sw_batch_size": sw_batch_size,
            "overlap": overlap,
            "mode": mode,
            "padding_mode": padding_mode,
            "sw_device": sw_device,
            "device": device,
        }
        self.keep_largest = KeepLargestConnectedComponent(applied_labels=[1], independent=False)
        self.tumor = load_label_table().value("tumor")

    def predictor(self, network: torch.nn.Module):
        """What the sliding window calls: the network, or its mirrored mean when ``mirror_axes`` is set."""
        return MirroredPredictor(network, self.mirror_axes) if self.mirror_axes else network

    @torch.no_grad()
    def stage1_probabilities(self, inputs: torch.Tensor) -> torch.Tensor:
        """Stage-1 probabilities upsampled to the input grid (B, C, X, Y, Z)."""
        plain = inputs.as_tensor() if hasattr(inputs, "as_tensor") else inputs
        coarse_size = [max(1, round(s / f)) for s, f in zip(plain.shape[2:], self.factor)]
        coarse = F.interpolate(plain, size=coarse_size, mode="trilinear", align_corners=False)
        logits = sliding_window_inference(
            coarse, self.roi_size, predictor=self.predictor(self.stage1), **self.sw
        )
        probs = torch.softmax(logits.float(), dim=1)
        return F.interpolate(
            probs.to(plain.device), size=plain.shape[2:], mode="trilinear", align_corners=False
        )

    @torch.no_grad()
    def stages(self, inputs: torch.Tensor, network: torch.nn.Module) -> list[tuple]:
        """Per batch item: (stage-1 probabilities on the input grid, liver box or None, stage-2 probabilities
        in the box or None). ``blend`` merges them; tools that compare blends call this once."""
        self.stage1.eval()  # the evaluator puts only the stage-2 network in eval mode
        plain = inputs.as_tensor() if hasattr(inputs, "as_tensor") else inputs
        margin = margin_voxels(self.margin_mm, voxel_spacing(inputs))
        coarse_probs = self.stage1_probabilities(inputs)
        items = []
        for b in range(plain.shape[0]):
            liver = (coarse_probs[b].argmax(0, keepdim=True) > 0).to(torch.uint8)
            liver = self.keep_largest(liver)[0].bool()
            box = liver_box(torch.as_tensor(liver), margin)
            if box is None:  # no liver found: the stage-1 result stands as it is
                items.append((coarse_probs[b], None, None))
                continue
            crop = plain[b : b + 1, :, box[0], box[1], box[2]]
            logits = sliding_window_inference(
                crop, self.stage2_roi_size, predictor=self.predictor(network), **self.sw
            )
            items.append((coarse_probs[b], box, torch.softmax(logits.float(), dim=1)[0]))
        return items

    @staticmethod
    def blend(
        coarse: torch.Tensor, box, fine: torch.Tensor | None, stage1_weight: float, scope: str = "classes"
    ) -> torch.Tensor:
        """(C, X, Y, Z) probabilities: background outside the box, stage 2 (blended with ``stage1_weight``
        of stage 1, over every class or only the foreground: see ``blend_foreground``) inside it; stage 1
        alone when no box was found."""
        if box is None or fine is None:
            return coarse
        out = torch.zeros_like(coarse)
        out[0] = 1.0
        fine = fine.to(out.device)
        if stage1_weight > 0:
            inside = coarse[:, box[0], box[1], box[2]]
            if scope == "foreground":
                fine = blend_foreground(inside, fine, stage1_weight)
            else:
                fine = stage1_weight * inside + (1.0 - stage1_weight) * fine
        out[:, box[0], box[1], box[2]] = fine
        return out

    @torch.no_grad()
    def __call__(self, inputs: torch.Tensor, network: torch.nn.Module, *args, **kwargs) -> torch.Tensor:
        items = self.stages(inputs, network)
        out = torch.stack(
            [self.blend(c, box, f, self.stage1_weight, self.stage1_blend) for c, box, f in items]
        )
        if isinstance(
            inputs, MetaTensor
        ):  # keep the input's geometry and transform trace, as MONAI's inferers do
            out = convert_to_dst_type(out, inputs, device=out.device)[0]
        return out
