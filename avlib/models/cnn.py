"""XDC's convolutional encoders, built from torchvision's definitions (no downloaded weights):

* :class:`R2Plus1D18` for video: R(2+1)D-18 (Tran et al. 2018), input ``[B, 3, T, H, W]``; mid-planes of
  each (2+1)D block follow ``(in * out * 27) // (in * 9 + 3 * out)`` (torchvision's ``Conv2Plus1D``, as in
  XDC's released model definition);
* :class:`AudioResNet18` for audio: a 2-D ResNet-18 on a one-channel log-mel ``[B, 1, mels, frames]``.

Both expose the interface of the ViT encoders that evaluation and fine-tuning use: ``embed_dim`` and
``features(x, pool="mean") -> [B, embed_dim]`` (global average of the last stage, the "conv5" features of
the XDC paper). BatchNorm keeps PyTorch's defaults: XDC's public model sets ``momentum=0.9``, which in
PyTorch's convention weights the *current* batch by 90 % (the opposite of Caffe2's meaning);
reference-notes section 4.1.
"""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["R2Plus1D18", "AudioResNet18"]


class R2Plus1D18(nn.Module):
    """R(2+1)D-18 trunk (torchvision ``r2plus1d_18`` without its classifier)."""

    def __init__(self):
        super().__init__()
        from torchvision.models.video import r2plus1d_18

        net = r2plus1d_18(weights=None)
        self.stem, self.layer1, self.layer2, self.layer3, self.layer4 = (
            net.stem,
            net.layer1,
            net.layer2,
            net.layer3,
            net.layer4,
        )
        self.embed_dim = 512

    def forward_maps(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[1] != 3:
            raise ValueError(f"R2Plus1D18 expects video [B, 3, T, H, W], got {tuple(x.shape)}")
        return self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))

    def features(self, x: torch.Tensor, pool: str = "mean") -> torch.Tensor:
        if pool != "mean":
            raise ValueError(f"R2Plus1D18.features: pool must be 'mean', got {pool!r}")
        return self.forward_maps(x).mean((2, 3, 4))

    forward = features


class AudioResNet18(nn.Module):
    """2-D ResNet-18 trunk (torchvision ``resnet18``) with a one-channel first convolution."""

    def __init__(self, in_channels: int = 1):
        super().__init__()
        from torchvision.models import resnet18

        net = resnet18(weights=None)
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.body = nn.Sequential(
            net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3, net.layer4
        )
        self.in_channels, self.embed_dim = in_channels, 512

    def forward_maps(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"AudioResNet18 expects a spectrogram [B, {self.in_channels}, mels, frames], got {tuple(x.shape)}"
            )
        return self.body(x)

    def features(self, x: torch.Tensor, pool: str = "mean") -> torch.Tensor:
        if pool != "mean":
            raise ValueError(f"AudioResNet18.features: pool must be 'mean', got {pool!r}")
        return self.forward_maps(x).mean((2, 3))

    forward = features
