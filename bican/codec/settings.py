"""Every knob of the encoder, in one frozen dataclass. Decoding depends on none of them: any settings read any
stream of the same model."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..config import MAX_REFINE, SEARCH  # with the CLI's other defaults, so that parsing needs no torch


@dataclass(frozen=True)
class EncoderSettings:
    """How the encoder chooses each digit's code. Tests and tools change a field with `dataclasses.replace`."""

    # The encoder also settles the codes that round the `search` most ambiguous latents the other way, and keeps the
    # fixed point nearest the input: +0.9 dB at 6 and 9 B for +0.05 B (docs/BENCHMARKS.md). None: SEARCH, or every
    # latent of a model with fewer.
    search: int | None = None
    # Refinement (opt-in) instead starts from the search's fixed point with the lowest squared error + rate weight *
    # bits (the model's ModelConfig.rate_weight) and walks on: each pass tries every latent one step up and down,
    # settles each to its fixed point, and moves the digit to the one that scores lowest, if that beats its own
    # code. A code that reconstructs its digit exactly never moves, so a decoded digit encodes to its own code. On
    # the 10k test digits, entropy-07b went from 6.19 B at 21.20 dB to 5.93 B at 21.58 dB (docs/BENCHMARKS.md).
    refine: int = 0
    # Inversion drops the fixed point, which cost 1.5 dB at 16 B: it inverts the decoder on the digit (invert_steps
    # of Adam on the latents from the encoder's output), rounds, and refines the plain code or that one, whichever
    # scores lower, without settling. None: the model's own choice (ModelConfig.encoder).
    invert: bool | None = None
    # Recompression rounds that make entropy codes idempotent; 8 left 97.6 % at 18 B, 16 99.7 %.
    rounds: int = 16
    # A reconstruction within this mean squared error (uint8 levels) counts as the digit itself and is not refined:
    # the same code decoded in another batch shape can differ by a level in a few bfloat16 pixels.
    exact: float = 1.0
    refine_rows: int = 512  # digits per refinement (or recognition) step, each with two candidates per latent
    invert_steps: int = 100
    invert_lr: float = 0.1
    # The inversion also recognizes a decoded digit's code, or one of its neighbours. Many codes decode to nearly the
    # same image, so a code's decoding may be recognized as another code that decodes as close: the encoder then
    # moves to that code and checks again, up to this many times (entropy-12b at rate weight 2: 14 %, 2.4 % and
    # 0.4 % of codes moved, for 0.2 dB; docs/BENCHMARKS.md). The fixed point's code is always a candidate too: it
    # replaces a code still moving, and one that scores worse (on 150 MNIST test digits, a quarter of entropy-12b's
    # did), so every code stays idempotent and none is worse than the fixed point's.
    recognize_rounds: int = 8
    batch: int = 1024  # rows per network call
    step: int = 4096  # digits per encoder step (and progress report); the fixed point's later rounds run fewer rows

    def resolved(self, latents: int, invert_by_default: bool) -> EncoderSettings:
        """These settings for a model with `latents` latents, defaults filled in; a bad value is a ValueError."""
        search = min(SEARCH, latents) if self.search is None else self.search
        if not 0 <= search <= latents:
            raise ValueError(f"search must be 0 to {latents} (the latent count), not {search}")
        if not 0 <= self.refine <= MAX_REFINE:
            raise ValueError(f"refine must be 0 to {MAX_REFINE} passes, not {self.refine}")
        invert = invert_by_default if self.invert is None else self.invert
        return dataclasses.replace(self, search=search, invert=invert)


# The seed is the reference row: it keeps its plain one-pass 8-bit code.
PLAIN = EncoderSettings(search=0, refine=0, invert=False, rounds=0)
