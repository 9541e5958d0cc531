"""Patch autoencoders for liver CT (seed 001): networks and losses for MONAI's AutoEncoder / VarAutoEncoder in
2D or 3D, latent vectors of patches, reconstruction-error maps on the input grid, and their scoring as a tumor
detector inside the liver."""

from liver3d.ae.analysis import PatchAEAnalysis, score_error_map
from liver3d.ae.error_maps import ErrorMapInference, ReconstructionErrorMap
from liver3d.ae.losses import ReconstructionLoss
from liver3d.ae.networks import (
    SliceWise2D,
    image_as_target,
    latent_vectors,
    reconstruction,
    reconstruction_and_input,
)

__all__ = [
    "ErrorMapInference",
    "PatchAEAnalysis",
    "ReconstructionErrorMap",
    "ReconstructionLoss",
    "SliceWise2D",
    "image_as_target",
    "latent_vectors",
    "reconstruction",
    "reconstruction_and_input",
    "score_error_map",
]
