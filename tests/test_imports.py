"""The import layers, each checked in a fresh interpreter: what a module loads is what a user pays for."""

import re
import subprocess
import sys

import pytest

HEAVY = ("torch", "numpy")
UI = ("streamlit", "plotly", "streamlit_drawable_canvas")


def loaded_by(*argv: str) -> set[str]:
    """Top-level packages a fresh `python ARGV...` imports, from its own -X importtime report."""
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True, text=True)
    return {m.group(1).split(".")[0] for m in re.finditer(r"^import time:.*\|\s+(\S+)$", done.stderr, re.M)}


def test_bican_never_imports_ui_packages_nor_tools():
    code = (
        "import sys, pkgutil, importlib, bican\n"
        "for m in pkgutil.iter_modules(bican.__path__):\n"
        "    if m.name != '__main__': importlib.import_module('bican.' + m.name)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {(*UI, 'tools')!r})\n"
        "print(len(list(pkgutil.iter_modules(bican.__path__))), bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(maxsplit=1)
    assert int(out[0]) >= 10
    assert out[1].strip() == "[]"


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["compress", "--help"], ["compress"],
                                  ["eval", "--search", "x"]])
def test_the_command_line_parses_without_torch_or_numpy(argv):
    loaded = loaded_by("-m", "bican", *argv)
    assert "bican" in loaded  # the report is read right: it names what did load
    assert not loaded & {*HEAVY, *UI}


@pytest.mark.parametrize("module", ["bican", "bican.runs", "bican.config", "bican.paths", "bican.bitstream"])
def test_light_modules_load_neither_torch_nor_numpy(module):
    loaded = loaded_by("-c", f"import {module}")
    assert "bican" in loaded and not loaded & {*HEAVY, *UI}


def test_the_public_api_loads_on_first_use():
    code = "import sys, bican; c = bican.Codec; print('torch' in sys.modules, bican.__version__, c.__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "True" and re.fullmatch(r"\d+\.\d+\.\d+", out[1]) and out[2].startswith("bican.codec")
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        import bican

        bican.nothing  # noqa: B018 -- the lookup is the test
