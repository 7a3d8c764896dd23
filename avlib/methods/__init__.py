"""Self-supervised methods, one module each (``avlib/methods/<name>.py``); re-exports only.

``build_method(cfg, logmel)`` returns the ``nn.Module`` of ``cfg.method`` (see :mod:`avlib.methods.build`)."""

from avlib.methods.build import available_methods, build_method, config_class, logmel_from_config, views_config

__all__ = ["build_method", "config_class", "available_methods", "views_config", "logmel_from_config"]
