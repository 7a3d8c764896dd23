"""2-D ResNets for C2KD's uni-modal networks (reference-notes §2.2), from torchvision's definitions, no weights.

* ``resnet18``: BasicBlock x [2, 2, 2, 2].
* ``resnet34``: BasicBlock x [3, 4, 6, 3], what the public C2KD code calls "resnet50" (its proxies' 256-channel
  layer-3 input only fits this topology); named honestly here.
* ``resnet50``: a true Bottleneck x [3, 4, 6, 3] ResNet-50 (layer 3 has 1024 channels).

:class:`ModalityResNet` takes a 1-channel spectrogram ``[B, 1, F, T]`` (audio) or frames ``[B, 3, H, W]`` /
``[B, K, 3, H, W]`` (vision: the K frames pass through the shared 2-D network as a batch, and the maps are
average-pooled over frames and space, OGM-GE/PMR style). It returns the layer-3 map (the proxies' input, as the
public code's ``feat[4]``), the layer-4 map and the logits of a linear head on the pooled layer-4 feature.
Kaiming initialisation (torchvision's default for ResNets)."""

from __future__ import annotations

import torch.nn as nn
from torch import Tensor
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

__all__ = ["ARCHS", "ModalityResNet", "Proxy"]

ARCHS = {
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet34": (BasicBlock, [3, 4, 6, 3]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
}


class ModalityResNet(nn.Module):
    """A torchvision ResNet with ``in_channels`` inputs, optional frame pooling, and a linear head."""

    def __init__(self, arch: str, in_channels: int, n_classes: int):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown ResNet {arch!r}; choose from {sorted(ARCHS)}")
        block, layers = ARCHS[arch]
        net = ResNet(block, layers, num_classes=n_classes)
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
            nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.arch, self.in_channels = arch, in_channels
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.fc = net.fc
        self.layer3_channels = 256 * block.expansion
        self.feature_dim = 512 * block.expansion

    def stages(self) -> list[nn.Module]:
        """The network's stages in order (stem, layer1-4, head): the partial-teacher option trains the last ones."""
        return [self.stem, self.layer1, self.layer2, self.layer3, self.layer4, self.fc]

    def forward(self, x: Tensor) -> dict:
        frames = x.dim() == 5  # [B, K, C, H, W]
        B = x.shape[0]
        if frames:
            x = x.flatten(0, 1)
        f3 = self.layer3(self.layer2(self.layer1(self.stem(x))))
        f4 = self.layer4(f3)
        if frames:  # back to [B, C, K, h, w], pooled over frames and space
            f3 = f3.unflatten(0, (B, -1)).transpose(1, 2)
            f4 = f4.unflatten(0, (B, -1)).transpose(1, 2)
        pooled = f4.flatten(2).mean(-1)
        return {"layer3": f3, "layer4": f4, "feature": pooled, "logits": self.fc(pooled)}


class Proxy(nn.Module):
    """C2KD's proxy (appendix: feature adaptation + a linear head; the public code's order): global average pool of
    the layer-3 map (over frames too) -> 1x1 conv -> BN -> LeakyReLU(0.1) -> linear."""

    def __init__(self, channels: int, n_classes: int, slope: float = 0.1):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.act = nn.LeakyReLU(slope)
        self.head = nn.Linear(channels, n_classes)

    def forward(self, layer3: Tensor) -> Tensor:
        pooled = layer3.flatten(2).mean(-1)[:, :, None, None]  # [B, C, (K,) h, w] -> [B, C, 1, 1]
        return self.head(self.act(self.bn(self.conv(pooled))).flatten(1))
