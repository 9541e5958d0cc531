"""Networks for 2D slices and 3D volumes: ResNet (MONAI's, torchvision-compatible), ConvNeXt, seed 004's small CNN, heads, and
pretrained-weight loading from local files with 2D->3D inflation."""

from liver3d.networks.convnext import PRESETS, ConvNeXt, convnext
from liver3d.networks.ensemble import (
    ProbabilityEnsemble,
    ensemble_members,
    ensemble_of,
    require_member_weights,
)
from liver3d.networks.heads import mlp_head
from liver3d.networks.pretrained import LoadReport, load_pretrained, read_state_dict
from liver3d.networks.resnet import resnet
from liver3d.networks.small_cnn import SmallCNN
from liver3d.networks.weights import (
    WeightsError,
    export_release_weights,
    load_weights,
    read_weights,
    require_weights,
    stage_checkpoint,
    verify_checksum,
)

__all__ = [
    "PRESETS",
    "SmallCNN",
    "ConvNeXt",
    "LoadReport",
    "ProbabilityEnsemble",
    "ensemble_members",
    "ensemble_of",
    "require_member_weights",
    "convnext",
    "load_pretrained",
    "mlp_head",
    "read_state_dict",
    "resnet",
    "WeightsError",
    "export_release_weights",
    "load_weights",
    "read_weights",
    "require_weights",
    "stage_checkpoint",
    "verify_checksum",
]
