"""The compress page's result: the digit, its bytes, where the bits go, what the classifier reads, and the ladder.

Each element costs the browser a render, and the first of its kind a script to fetch and compile; on a starved CPU that
outweighed the computing (measured in docs/BENCHMARKS.md). So the whole result, ladder included, is one markdown
element with inline images. Every string from a file or a name is escaped before it enters that HTML.
"""

from __future__ import annotations

import base64
from html import escape, unescape

import numpy as np
import streamlit as st

import bican
from bican import studio
from pages._ui import HEX_CLASS

CAPTIONS = ("input", "reconstruction", "|difference|")
DOWNLOAD = "Download as .bican"
MAIN_WIDTH = "75%"  # of the result column, for input, reconstruction and difference: the ladder stays in view below
NOTES = ("<small><b>Stream</b>: the bytes stored for this digit. <b>Ideal</b>: the code's information content under "
         "the prior; the coder's flush makes the stream a little longer. <b>Raw</b>: the 28x28 pixels as bytes. "
         "<b>PNG</b>: the same input as an optimized grayscale PNG, lossless. <b>PSNR</b>: peak signal-to-noise ratio "
         "of the reconstruction against the input, higher is closer (20 dB reads well, 30 dB is near-identical). "
         "<b>SSIM</b>: structural similarity, 1 is identical. <b>Class</b>: what a separately trained MNIST "
         "classifier reads in the input and in the reconstruction. <b>Recompression</b>: encoding the reconstruction "
         "again gives the same stream, so decoding and re-encoding loses nothing more.</small>")


def text(value: object) -> str:
    """Any string for the HTML below, as plain text: every character but letters, digits, spaces, '-' and '.' becomes an HTML
    entity, so that it forms neither a tag nor markdown (a backtick would end a code span, brackets make a link)."""
    return "".join(c if c.isalnum() or c in " -." else f"&#{ord(c)};" for c in str(value))


def png_url(digit: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(bican.images.png(digit)).decode()


def panels(pairs: list[tuple[np.ndarray, str]], columns: int | None = None, width: str = "100%") -> str:
    """Digits side by side as HTML, each inline as its 28x28 PNG, in equal columns; captions may hold HTML.

    The browser enlarges them, pixelated (nearest-neighbour: every pixel a crisp square), so a panel is a few hundred
    bytes in the page and no media file is fetched. Square from the start, they never shift the layout as they decode.
    """
    figures = "".join(f'<figure style="margin:0;text-align:center"><img src="{png_url(image)}" alt="{escape(alt)}" '
                      'style="width:100%;aspect-ratio:1;object-fit:fill;image-rendering:pixelated">'
                      f"<figcaption>{caption}</figcaption></figure>" for image, caption, alt in _alts(pairs))
    return (f'<div style="display:grid;grid-template-columns:repeat({columns or len(pairs)},1fr);gap:0.75rem;'
            f'width:{width}">{figures}</div>')


def _alts(pairs: list[tuple[np.ndarray, str]]):
    """Each panel's alt text: its caption's first line as plain text (markup dropped, entities decoded; `panels`
    escapes it again for the attribute)."""
    for image, caption in pairs:
        yield image, caption, unescape(caption.split("<br>")[0].replace("<b>", "").replace("</b>", ""))


def hex_lines(hex_text: str) -> str:
    """Inline code, line by line: a code block would load a syntax highlighter for plain hex."""
    return (f'<div class="{HEX_CLASS}">' + "<br>".join(f"<code>{line}</code>" for line in hex_text.splitlines())
            + "</div>")


def measures(result: studio.Analysis) -> str:
    """Bytes, ideal bits and quality as a markdown table, labels above values."""
    size, bits = len(result.stream), result.ideal_bits
    check = "✓ same bytes" if result.recompresses else "✗ other bytes"
    return "\n".join([
        "| Stream | Ideal | Raw | PNG |", "|---|---|---|---|",
        f"| **{size} B** ({size - studio.RAW_BYTES:+d} B vs raw) | {bits / 8:.2f} B ({bits:.1f} bits) "
        f"| {studio.RAW_BYTES} B | {result.png_bytes} B |",
        "| **PSNR** | **SSIM** | **Class** (input → output) | **Recompression** |",
        f"| {result.psnr_db:.1f} dB | {result.ssim:.3f} | {result.predicted} → {result.predicted_recon} | {check} |",
    ])


def bit_bars(result: studio.Analysis) -> str:
    """Bits per latent as a small bar chart of plain divs (a chart library would be one more element per stroke)."""
    bits = result.latent_bits
    top = max(float(bits.max()), 1e-9)
    bars = "".join(f'<div class="bican-bit" title="y{i}: {b:.1f} bits" style="flex:1;background:#2f5d8a;'
                   f'height:{max(b / top, 0.02) * 100:.0f}%"></div>' for i, b in enumerate(bits))
    index = result.ideal_bits - float(bits.sum())
    return (f'<div style="display:flex;align-items:flex-end;gap:1px;height:56px">{bars}</div>'
            f"<small>Bits per latent, y0 to y{len(bits) - 1} (hover for each): the tall bars are the latents that cost "
            f"the bytes, each -log2 of its symbol's probability under the prior's tables; choosing the mixture "
            f"component takes {index:.1f} bits more.</small>")


def readings(result: studio.Analysis) -> str:
    """The classifier's top three for input and reconstruction, and a plain warning when it doubts the input is a
    digit."""
    def three(probs: np.ndarray) -> str:
        return ", ".join(f"{c} ({p:.0%})" for c, p in studio.top(probs))

    lines = [f"**Classifier** reads the input as {three(result.probabilities[0])}; "
             f"the reconstruction as {three(result.probabilities[1])}."]
    if result.unsure:
        lines.append(f"⚠️ **This does not look much like a digit**: the classifier's best guess, "
                     f"{result.predicted}, has only {result.probabilities[0].max():.0%}.")
    return "\n\n".join(lines)


def identity(codec: bican.Codec, result: studio.Analysis, rungs: list[studio.Rung], slow: bool) -> str:
    """Beside the reconstruction, when the classifier reads it as another digit than the input: which, and the model
    of the ladder that keeps the digit in the fewest bytes."""
    if result.predicted == result.predicted_recon:
        return ""
    said = (f"⚠️ **The reconstruction reads as {result.predicted_recon}; the input reads as {result.predicted}.** "
            f"At this rate, {text(codec.name)} kept another digit.")
    keeper = studio.keeper(rungs)
    if keeper is not None:
        return (f"{said} <b>{text(keeper.name)}</b> keeps it a {result.predicted} in {keeper.size} B: choose it "
                "in Model above, or see it in the ladder below.")
    if not slow:
        return f"{said} No fast rung of the ladder keeps it: add the inverting rungs below to try the larger models."
    return f"{said} No model of the ladder keeps it: the classifier reads every reconstruction as another digit."


def download_link(codec: bican.Codec, result: studio.Analysis) -> str:
    """The digit as a .bican file, inline: a download button would be one more element per result (~40 ms measured)."""
    archive = codec.pack(result.symbols[None])
    data = base64.b64encode(archive).decode()
    extra = studio.archive_overhead(codec, result.stream)
    return (f'<a href="data:application/octet-stream;base64,{data}" download="digit.bican">{DOWNLOAD}</a> '
            f"({len(archive)} B: the {len(result.stream)}-byte stream plus {extra} B that let any copy of bican check "
            "and decode it alone: magic, format version, model fingerprint, digit count and CRC32)")


def share_link(codec: bican.Codec, result: studio.Analysis) -> str:
    query = studio.share_query(codec, result.stream)
    return (f'<a class="bican-share" href="{escape(query)}">Share this digit as a link</a> '
            f"<small>(<code>{text(query)}</code>: the model's name and the stream in hex)</small>")


def rung_caption(rung: studio.Rung) -> str:
    return (f"<b>{text(rung.name)}</b><br><small>{rung.size:,} B · {rung.psnr_db:.1f} dB · reads {rung.predicted}"
            "</small>")


def ladder_html(rungs: list[studio.Rung], slow: bool) -> str:
    """The same digit by every shipped rung and by JPEG and WebP at their smallest, side by side."""
    note = ("" if slow else " The inverting rungs, entropy-12b and entropy-21b, take about a second each: they are "
            "computed only when asked below.")
    return (f"**The ladder**: this digit by every shipped model, fewest bytes first, then JPEG and WebP at their "
            f"smallest (each a file of its own).<small>{note}</small>\n\n"
            + panels([(r.recon, rung_caption(r)) for r in rungs], columns=min(len(rungs), 7)))


def result_markdown(codec: bican.Codec, result: studio.Analysis, rungs: list[studio.Rung], slow: bool) -> str:
    """Input, reconstruction and difference, with a warning beside them when the digit changed; the stream; the
    ladder, in view at once; then every measure of the stream, its download and its link."""
    return "\n\n".join(part for part in [
        panels(list(zip((result.digit, result.recon, result.difference), CAPTIONS)), width=MAIN_WIDTH),
        identity(codec, result, rungs, slow),
        f"**The stream: {len(result.stream)} bytes** with <code>{text(codec.name)}</code> ({codec.fingerprint})",
        hex_lines(result.hex), ladder_html(rungs, slow), readings(result), bit_bars(result), measures(result), NOTES,
        download_link(codec, result), share_link(codec, result),
    ] if part)


def show_empty_result() -> None:
    """The result's frame before there is a digit: blank panels. The page does not jump when the first result arrives,
    and the browser has loaded the code for markdown with HTML by then."""
    blank = np.zeros((28, 28), np.uint8)
    st.markdown(panels([(blank, caption) for caption in CAPTIONS], width=MAIN_WIDTH), unsafe_allow_html=True)


def show_analysis(codec: bican.Codec, classifier, digit: np.ndarray) -> None:
    slow = st.session_state.get("ladder_slow", False)
    result = studio.analyse(codec, digit, classifier)
    rungs = studio.ladder(digit, classifier, slow, done=result, model=codec.name)
    st.markdown(result_markdown(codec, result, rungs, slow), unsafe_allow_html=True)
    st.toggle("Add the inverting rungs (about a second each per digit)", key="ladder_slow")
