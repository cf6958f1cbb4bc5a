import subprocess
import sys


def test_bican_never_imports_ui_packages():
    code = (
        "import sys, pkgutil, importlib, bican\n"
        "for m in pkgutil.iter_modules(bican.__path__):\n"
        "    if m.name != '__main__': importlib.import_module('bican.' + m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('streamlit', 'plotly', 'streamlit_drawable_canvas'))\n"
        "print(len(list(pkgutil.iter_modules(bican.__path__))), bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(maxsplit=1)
    assert int(out[0]) >= 10
    assert out[1].strip() == "[]"
