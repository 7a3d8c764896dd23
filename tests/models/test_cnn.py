"""XDC's CNN encoders: the torchvision architectures (parameter counts of the published models minus
their classifiers), the (2+1)D mid-plane formula, shapes, and gradients reaching the first layer."""

import pytest
import torch

from avlib.models.cnn import AudioResNet18, R2Plus1D18


def test_r2plus1d18_matches_the_published_architecture():
    m = R2Plus1D18()
    n = sum(p.numel() for p in m.parameters())
    # torchvision r2plus1d_18: 31,505,325 parameters with its 400-way classifier (512*400 + 400)
    assert n == 31_505_325 - (512 * 400 + 400)
    conv = m.layer2[0].conv1[0]  # Conv2Plus1D of the first block of layer2: 64 -> 128
    mid = conv[0].out_channels
    assert mid == (64 * 128 * 27) // (64 * 9 + 3 * 128)
    f = m.features(torch.randn(2, 3, 8, 32, 32))
    assert f.shape == (2, 512)
    f.sum().backward()
    assert m.stem[0].weight.grad is not None and m.stem[0].weight.grad.abs().sum() > 0


def test_audio_resnet18():
    m = AudioResNet18()
    n = sum(p.numel() for p in m.parameters())
    # torchvision resnet18: 11,689,512 with a 3-channel stem and a 1000-way classifier
    assert n == 11_689_512 - (512 * 1000 + 1000) - 64 * 2 * 7 * 7
    x = torch.randn(2, 1, 40, 100)  # XDC's 40 mels x 100 frames (2 s)
    assert m.features(x).shape == (2, 512)
    with pytest.raises(ValueError, match=r"spectrogram \[B, 1, mels, frames\]"):
        m.features(torch.randn(2, 3, 40, 100))
    with pytest.raises(ValueError, match=r"video \[B, 3, T, H, W\]"):
        R2Plus1D18().features(torch.randn(2, 3, 32, 32))
