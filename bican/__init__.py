"""bican: a learned compressor for handwritten digits, grown from the 2019 BiCAN."""

from . import data, images, studio
from .bitstream import BitstreamError
from .classifier import load as load_classifier
from .codec import Codec, decode_archive, load
from .config import ConfigError, ModelConfig, TrainConfig, preset
from .data import DataError
from .weights import DEFAULT_MODEL, WeightsError, available

__version__ = "0.1.0"

__all__ = [
    "BitstreamError", "Codec", "ConfigError", "DataError", "DEFAULT_MODEL", "ModelConfig", "TrainConfig",
    "WeightsError", "available", "data", "decode_archive", "images", "load", "load_classifier", "preset", "studio",
    "__version__",
]
