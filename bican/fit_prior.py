"""Refit a trained model's prior to the codes its own encoder emits for the training digits; the networks stay."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import data, weights
from .codec import Codec, EncoderSettings
from .prior import fit_mixture


# The command line's options, one argument each; all but the first three are optional keywords.
def fit_prior(model: str, out: Path, components: int, progress: Callable[[int], Any] | None = None,  # noqa: PLR0913
              encoder: str | None = None, rate_weight: float | None = None,
              settings: EncoderSettings = EncoderSettings()) -> dict:
    """Save a codec model to `out` with its prior refitted as a mixture of `components` tables per latent.

    The mixture is fitted to the codes the model's own encoder (ModelConfig.encoder, as set here) emits for the 60k
    training digits (prior.fit_mixture); the networks are unchanged. Returns the training codes' ideal bytes/digit
    under the old and the new tables.

    Args:
        model: a model name or .safetensors path.
        out: where to write the refitted model.
        components: the mixture's size; 1 gives a factorized table fitted to the codes.
        progress: called with the number of digits encoded after each step.
        encoder, rate_weight: the refitted model's ModelConfig.encoder and .rate_weight; None keeps the model's.
        settings: the encoder's other knobs (its default encoder is the model's, as set here).
    """
    loaded = weights.load(model)
    if loaded.tables is None:
        raise ValueError(f"{loaded.name} writes fixed-length codes; it has no prior to fit")
    if not 1 <= components <= 256:
        raise ValueError(f"components must be 1 to 256, not {components}")
    changes = {k: v for k, v in (("encoder", encoder), ("rate_weight", rate_weight)) if v is not None}
    loaded.model.cfg = dataclasses.replace(loaded.model.cfg, **changes).validate()
    codec = Codec(loaded.model, loaded.tables, loaded.fingerprint, loaded.name, settings=settings)
    symbols = codec.symbols(data.load("train").images, progress)
    tables = fit_mixture(loaded.tables, symbols, components)
    before, after = (float(t.bits(symbols).mean() / 8) for t in (loaded.tables, tables))
    info = loaded.info | {"prior": {"components": components, "fitted_to": "codes of the 60k training digits",
                                    "train_ideal_bytes": {"before": before, "after": after}}}
    fingerprint = weights.save(Path(out), loaded.model, info, tables)
    return {"model": loaded.name, "fingerprint": fingerprint, "components": components,
            "train_ideal_bytes_before": before, "train_ideal_bytes_after": after}
