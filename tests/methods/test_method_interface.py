"""The method registry's optional hooks reach the shared code without a shared edit."""

import sys
import types

import torch

from avlib.config import PretrainConfig
from avlib.data.audio import LogMel
from avlib.data.views import ViewConfig
from avlib.methods import logmel_from_config, views_config


class _Frontend(torch.nn.Module):
    sample_rate = 16000

    def n_frames(self, n_samples: int) -> int:
        return 32

    def forward(self, wave):
        return wave[:, None, :32, None].expand(-1, -1, -1, 8)


def test_a_method_module_frontend_replaces_the_xkd_logmel(monkeypatch):
    mod = types.ModuleType("avlib.methods.toy_frontend")
    mod.build = lambda cfg, logmel: None
    seen = []
    mod.frontend = lambda cfg: (seen.append(cfg.name), _Frontend())[1]
    monkeypatch.setitem(sys.modules, "avlib.methods.toy_frontend", mod)
    fe = logmel_from_config(PretrainConfig(name="toy", method="toy_frontend"))
    assert isinstance(fe, _Frontend) and seen == ["toy"]
    assert fe(torch.zeros(2, 100)).shape == (2, 1, 32, 8)
    # a method without the hook gets XKD's log-mel of cfg.audio
    plain = logmel_from_config(PretrainConfig(method="xkd"))
    assert isinstance(plain, LogMel) and plain.n_mels == PretrainConfig().audio.n_mels


def test_a_method_module_view_config_replaces_the_shared_views(monkeypatch):
    mod = types.ModuleType("avlib.methods.toy_views")
    mod.build = lambda cfg, logmel: None
    mine = ViewConfig(n_local_video=0, n_local_audio=0, flip_p=0.25)
    mod.view_config = lambda cfg: mine
    monkeypatch.setitem(sys.modules, "avlib.methods.toy_views", mod)
    assert views_config(PretrainConfig(method="toy_views")) is mine
    plain = views_config(PretrainConfig(method="xkd"))
    assert plain.n_local_video == PretrainConfig().views.n_local_video and plain.flip_p == ViewConfig().flip_p
