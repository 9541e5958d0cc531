"""Ensembles of networks that share one architecture: members' probabilities averaged, as nnU-Net averages the
softmax of its cross-validation folds.

A release folder declares an ensemble in its ``manifest.json`` (``"ensembles": {"stage2.pt": ["stage2.pt",
"stage2_seed1.pt"]}``): the file a config names is the first member, the others lie beside it, and every member
is checked against the manifest's SHA-256 when it loads. A weights file without such an entry is an ensemble of
one, which is the plain network itself (so single-model bundles, training and ONNX export are unchanged).

Bundle configs use three steps: ``ensemble_members(path)`` lists the files, ``ensemble_of(network_def, n)``
builds the module, and ``require_member_weights(network, files)`` loads them (in ``initialize``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from liver3d.networks.weights import WeightsError, read_manifest, require_weights


class ProbabilityEnsemble(nn.Module):
    """Average the softmax probabilities (over ``dim=1``) of ``members``; return their logarithm.

    Returning log-probabilities keeps the output a logit-like map: a softmax of it gives the mean probability
    back exactly, so the cascade's sliding window, mirroring and softmax work on it unchanged.

    Example:
        >>> ens = ProbabilityEnsemble([nn.Conv3d(1, 3, 1), nn.Conv3d(1, 3, 1)])
        >>> ens(torch.zeros(1, 1, 4, 4, 4)).softmax(1).sum(1).allclose(torch.ones(1, 4, 4, 4))
        True
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError("an ensemble needs at least two members")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.stack([torch.softmax(m(x).float(), dim=1) for m in self.members]).mean(0)
        return torch.log(mean.clamp_min(torch.finfo(mean.dtype).tiny))


def ensemble_members(path: str | Path) -> list[str]:
    """The weight files of the ensemble that ``path`` heads, from the ``manifest.json`` beside it.

    ``[path]`` when the manifest declares no ensemble for it (or there is no manifest).
    """
    path = Path(path)
    manifest, content = read_manifest(path)
    if content is None:
        return [str(path)]
    ensembles = content.get("ensembles", {}) if isinstance(content, dict) else None
    if not isinstance(ensembles, dict):
        raise WeightsError(manifest, "its 'ensembles' must map a weights file to the list of its members")
    names = ensembles.get(path.name)
    if names is None:
        return [str(path)]
    if not isinstance(names, list) or not names or names[0] != path.name:
        raise WeightsError(manifest, f"its ensemble for {path.name} must be a list that starts with it")
    for name in names:
        if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
            raise WeightsError(
                manifest, f"ensemble member {name!r} of {path.name} is not a file name beside it"
            )
    if len(set(names)) != len(names):
        raise WeightsError(manifest, f"the ensemble of {path.name} lists a member twice")
    return [str(path.parent / name) for name in names]


def ensemble_of(network: nn.Module, members: int) -> nn.Module:
    """``network`` itself for one member, else a :class:`ProbabilityEnsemble` of ``members`` copies of it."""
    if members < 1:
        raise ValueError("an ensemble needs at least one member")
    if members == 1:
        return network
    return ProbabilityEnsemble([network] + [copy.deepcopy(network) for _ in range(members - 1)])


def require_member_weights(network: nn.Module, paths: Sequence[str | Path]) -> nn.Module:
    """Load ``paths`` into ``network`` (one file) or into each member of a :class:`ProbabilityEnsemble`,
    through the weights-only loader and its checksum check. Raises :class:`WeightsError`."""
    paths = list(paths)
    members = list(network.members) if isinstance(network, ProbabilityEnsemble) else [network]
    if len(members) != len(paths):
        raise WeightsError(paths[0], f"{len(paths)} weight file(s) for a network of {len(members)} member(s)")
    for member, path in zip(members, paths):
        require_weights(member, path)
    return network


__all__ = ["ProbabilityEnsemble", "ensemble_members", "ensemble_of", "require_member_weights"]
