import pytest
import torch
import torchvision

from liver3d.networks import ConvNeXt, convnext, load_pretrained, resnet
from liver3d.networks.pretrained import inflate, map_keys
from liver3d.networks.weights import WeightsError

SMALL_CONVNEXT = {"depths": (1, 1, 1, 1), "dims": (8, 16, 24, 32)}


@pytest.mark.parametrize("spatial_dims,shape", [(2, (2, 1, 64, 64)), (3, (2, 1, 32, 32, 32))])
@pytest.mark.parametrize("builder", ["resnet18", "resnet34", "resnet50", "convnext", "convnext_mlp"])
def test_each_network_in_2d_and_3d_gives_logits_and_trains_one_step(builder, spatial_dims, shape):
    if builder.startswith("resnet"):
        net = resnet(int(builder[6:]), spatial_dims=spatial_dims, in_channels=1, num_classes=3)
    else:
        net = ConvNeXt(
            **SMALL_CONVNEXT,
            spatial_dims=spatial_dims,
            in_channels=1,
            num_classes=3,
            head="mlp" if builder.endswith("mlp") else "linear",
        )
    x, y = torch.randn(*shape), torch.tensor([0, 2])
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    logits = net(x)
    assert logits.shape == (2, 3)
    loss = torch.nn.functional.cross_entropy(logits, y)
    loss.backward()
    before = [p.detach().clone() for p in net.parameters()]
    optimizer.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_convnext_presets():
    net = convnext("tiny", spatial_dims=2, in_channels=3, num_classes=1000)
    assert sum(p.numel() for p in net.parameters()) == pytest.approx(28.6e6, rel=0.01)
    with pytest.raises(ValueError, match="unknown ConvNeXt preset"):
        convnext("huge")


def test_torchvision_resnet50_weights_load_key_for_key(tmp_path):
    reference = torchvision.models.resnet50(weights=None).eval()
    path = tmp_path / "resnet50.pth"
    torch.save(reference.state_dict(), path)
    net = resnet(50, spatial_dims=2, in_channels=3, num_classes=1000).eval()
    report = load_pretrained(net, path, skip=())
    assert not report.missing and not report.unexpected and not report.shape_mismatch
    x = torch.randn(1, 3, 64, 64)
    assert torch.allclose(net(x), reference(x), atol=1e-5)


def test_torchvision_convnext_weights_load_and_inflate_to_3d(tmp_path):
    reference = torchvision.models.convnext_tiny(weights=None).eval()
    path = tmp_path / "convnext.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in reference.state_dict().items()}}, path)
    net2d = convnext("tiny", spatial_dims=2, in_channels=3, num_classes=1000).eval()
    assert not load_pretrained(net2d, path, skip=()).missing
    x = torch.randn(1, 3, 64, 64)
    assert torch.allclose(net2d(x), reference(x), atol=1e-5)
    net3d = convnext("tiny", spatial_dims=3, in_channels=1, num_classes=2)
    report = load_pretrained(net3d, path)
    assert report.missing == ["classifier.2.weight", "classifier.2.bias"]
    assert len(report.inflated) == 22 and report.adapted == ["features.0.0.weight"]


def test_inflated_kernel_matches_2d_conv_on_depth_constant_input():
    conv2d = torch.nn.Conv2d(2, 4, 3, padding=1, bias=False)
    conv3d = torch.nn.Conv3d(2, 4, 3, padding=(0, 1, 1), bias=False)
    conv3d.weight.data = inflate(conv2d.weight.data, conv3d.weight.shape)
    image = torch.randn(1, 2, 8, 8)
    volume = image.unsqueeze(2).repeat(1, 1, 3, 1, 1)
    assert torch.allclose(conv3d(volume)[:, :, 0], conv2d(image), atol=1e-5)


def test_dino_style_checkpoint_and_timm_names(tmp_path):
    net = resnet(18, spatial_dims=2, in_channels=3, num_classes=2)
    path = tmp_path / "dino.pth"
    torch.save({"teacher": {f"backbone.{k}": v for k, v in net.state_dict().items()}, "epoch": 100}, path)
    fresh = resnet(18, spatial_dims=2, in_channels=3, num_classes=2)
    report = load_pretrained(fresh, path)
    assert report.missing == ["fc.weight", "fc.bias"] and not report.unexpected
    mapped = map_keys(
        {"stages.1.blocks.2.conv_dw.weight": torch.zeros(1), "head.fc.bias": torch.zeros(1)}, "timm"
    )
    assert set(mapped) == {"features.3.2.block.0.weight", "classifier.2.bias"}


def test_missing_weights_file_is_named(tmp_path):
    with pytest.raises(WeightsError, match=r"none\.pth: weights file not found.*nothing is downloaded"):
        load_pretrained(resnet(18), tmp_path / "none.pth")


def test_stacked_deep_supervision_loss_weights_each_head():
    from monai.losses import DiceCELoss

    from liver3d.losses import StackedDeepSupervisionLoss

    torch.manual_seed(0)
    heads = torch.randn(2, 3, 3, 8, 8, 8)  # (B, 1 + 2 heads, C, X, Y, Z), as DynUNet stacks them in training
    target = torch.randint(0, 3, (2, 1, 8, 8, 8))
    base = DiceCELoss(to_onehot_y=True, softmax=True)
    expected = sum(w * base(heads[:, i], target) for i, w in enumerate((1.0, 0.5, 0.25)))
    loss = StackedDeepSupervisionLoss(base)
    assert torch.allclose(loss(heads, target), expected)
    assert torch.allclose(loss(heads[:, 0], target), base(heads[:, 0], target))  # evaluation output: one head
