"""Attribution maps on 2D and 3D models: shapes, Integrated Gradients' completeness, occlusion's locality."""

import numpy as np
import pytest
import torch
from monai.networks.nets import UNet
from torch import nn

from liver3d.attribution import MeanClassProbability, attribute
from liver3d.networks import resnet


def test_integrated_gradients_on_a_2d_classifier_adds_up_to_the_output_change():
    torch.manual_seed(0)
    net = resnet(18, spatial_dims=2, in_channels=1, num_classes=3).eval()
    x = torch.rand(2, 1, 32, 32)
    maps = attribute(net, x, "integrated_gradients", target=2, steps=64)
    assert maps.shape == (2, 32, 32)
    with torch.no_grad():
        change = net(x)[:, 2] - net(torch.zeros_like(x))[:, 2]
    # completeness: attributions sum to f(x) - f(baseline), up to the path integral's discretisation
    np.testing.assert_allclose(maps.reshape(2, -1).sum(1), change.numpy(), rtol=0.05, atol=0.02)


@pytest.mark.parametrize("method", ["integrated_gradients", "occlusion"])
def test_3d_segmentation_target_inside_a_region(method):
    torch.manual_seed(0)
    seg = UNet(3, 1, 3, (8, 16, 32), (2, 2)).eval()
    region = torch.zeros(1, 1, 16, 16, 16)
    region[..., 4:10, 4:10, 4:10] = 1
    target = MeanClassProbability(seg, 2, region)
    x = torch.rand(1, 1, 16, 16, 16)
    value = target(x)
    assert value.shape == (1, 1) and 0 < float(value) < 1
    maps = attribute(target, x, method, target=0, steps=8, mask_size=4, activate=False)
    assert maps.shape == (1, 16, 16, 16) and np.isfinite(maps).all() and np.abs(maps).max() > 0


def test_occlusion_finds_the_only_pixels_a_model_looks_at():
    class Corner(nn.Module):  # class 1's logit is the mean of the top-left 4 x 4 pixels
        def forward(self, x):
            score = x[:, :, :4, :4].mean(dim=(1, 2, 3))
            return torch.stack([torch.zeros_like(score), 10 * score], 1)

    x = torch.ones(1, 1, 16, 16)
    maps = attribute(Corner(), x, "occlusion", target=1, mask_size=4, overlap=0.5)
    assert maps[0, :4, :4].mean() > 5 * np.abs(maps[0, 8:, 8:]).mean()


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match="method must be one of"):
        attribute(nn.Identity(), torch.zeros(1, 1, 4, 4), "shap")
