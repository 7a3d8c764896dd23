"""C2KD's 2-D ResNets: the topologies by their known parameter counts, the frame pooling and the proxy's order."""

import pytest
import torch

from avlib.models.resnet2d import ModalityResNet, Proxy


@pytest.mark.parametrize(
    "arch, params, layer3",
    # torchvision's ImageNet models (3 input channels, 1000 classes): 11.69 M, 21.80 M, 25.56 M parameters
    [("resnet18", 11_689_512, 256), ("resnet34", 21_797_672, 256), ("resnet50", 25_557_032, 1024)],
)
def test_topologies_are_the_named_resnets(arch, params, layer3):
    m = ModalityResNet(arch, 3, 1000)
    assert sum(p.numel() for p in m.parameters()) == params
    out = m(torch.randn(2, 3, 64, 64))
    assert out["layer3"].shape[1] == m.layer3_channels == layer3 and out["logits"].shape == (2, 1000)


def test_audio_input_has_one_channel_and_frames_are_pooled_through_the_shared_network():
    torch.manual_seed(0)
    a = ModalityResNet("resnet18", 1, 6).eval()
    assert a.stem[0].in_channels == 1 and a(torch.randn(2, 1, 96, 64))["logits"].shape == (2, 6)
    v = ModalityResNet("resnet18", 3, 6).eval()
    frames = torch.randn(2, 3, 3, 48, 48)  # [B, K, C, H, W]
    with torch.no_grad():
        out = v(frames)
        each = torch.stack([v(frames[:, k])["feature"] for k in range(3)], 1)  # one frame at a time
    torch.testing.assert_close(out["feature"], each.mean(1), rtol=1e-5, atol=1e-6)
    assert out["layer3"].shape[:3] == (2, 256, 3)  # [B, C, K, h, w]


def test_proxy_pools_before_its_1x1_conv_then_bn_leakyrelu_linear():
    torch.manual_seed(1)
    p = Proxy(8, 5).eval()
    with torch.no_grad():
        p.bn.running_mean.normal_()
        p.bn.running_var.uniform_(0.5, 2)
        x = torch.randn(3, 8, 4, 6)
        pooled = x.mean((2, 3))
        h = pooled @ p.conv.weight[:, :, 0, 0].T
        h = (h - p.bn.running_mean) / torch.sqrt(p.bn.running_var + p.bn.eps) * p.bn.weight + p.bn.bias
        h = torch.where(h > 0, h, 0.1 * h)
        torch.testing.assert_close(p(x), h @ p.head.weight.T + p.head.bias)
