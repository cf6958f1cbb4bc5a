"""bican: a learned compressor for handwritten digits, grown from the 2019 BiCAN.

The public names load on first use, so `import bican` (or `bican.runs`, or `bican --help`) loads no torch.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it (and the name there, where it differs)
_EXPORTS = {
    "BitstreamError": "bitstream",
    "Codec": "codec", "decode_archive": "codec", "load": "codec",
    "ConfigError": "config", "ModelConfig": "config", "TrainConfig": "config", "preset": "config",
    "DataError": "data",
    "DEFAULT_MODEL": "config", "WeightsError": "weights", "available": "weights",
    "load_classifier": "classifier:load",
}

__all__ = [*_EXPORTS, "data", "images", "studio", "__version__"]


def __getattr__(name: str):
    """A public name, or a submodule (`bican.codec`), imported when first asked for."""
    if name in _EXPORTS:
        module, _, attr = _EXPORTS[name].partition(":")
        value = getattr(importlib.import_module(f".{module}", __name__), attr or name)
    else:
        try:
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value

