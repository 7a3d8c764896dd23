"""Self-supervised methods, one module each (``avlib/methods/<name>.py``); re-exports only.

``build_method(cfg, logmel)`` returns the ``nn.Module`` of ``cfg.method`` (see :mod:`avlib.methods.build`); the
interface every method implements is :class:`avlib.methods.base.Method`."""

from avlib.methods.build import (
    available_methods,
    build_config,
    build_method,
    config_class,
    logmel_from_config,
    method_config_sections,
    views_config,
)

__all__ = [
    "build_method",
    "build_config",
    "config_class",
    "available_methods",
    "method_config_sections",
    "views_config",
    "logmel_from_config",
]
