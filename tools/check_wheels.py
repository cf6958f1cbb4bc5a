"""Can every pinned requirement be installed on each platform and Python bican supports?

    python -m tools.check_wheels [REQUIREMENTS ...]   # default: requirements.txt and the files it includes

For each pin (torch and torchvision aside: the README points to their CPU and CUDA builds), PyPI's simple index (its
JSON form) lists the release's files. A pin passes on a platform and CPython version when a wheel whose tags that
platform accepts, or a source package, allows that Python. A requirement whose environment marker excludes a platform
is not needed there. The check exits 1 and names each gap; 2 when PyPI cannot be asked.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYTHONS = ("3.11", "3.12", "3.13")
SKIP = {"torch", "torchvision"}
INDEX = "https://pypi.org/simple/{name}/"
# Gaps that no pin can close today, each with the platforms it leaves out and why. They are printed on every run and
# do not fail it; any other gap does, and so does a known one that grows. Remove an entry once upstream ships the wheel.
KNOWN_GAPS = {
    "constriction": ({"Linux arm64"}, "upstream publishes no Linux aarch64 wheel and no source package (0.4.1 to 0.5.0, "
                                      "checked 2026-12-02); no maintained coder with integer tables has one"),
}


def _manylinux(arch: str, oldest: int) -> list[str]:
    """Linux with glibc 2.28 (Debian 10, RHEL 8, Ubuntu 20.04 and later) accepts manylinux wheels up to 2.28."""
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    return [tag for minor in range(28, oldest - 1, -1)
            for tag in (f"manylinux_2_{minor}_{arch}", *([f"{legacy[minor]}_{arch}"] if minor in legacy else []))]


# name -> (the marker environment, the wheel platform tags it accepts); macOS 14 and glibc 2.28 are the oldest assumed.
PLATFORMS = {
    "Linux x86-64": ({"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"},
                     _manylinux("x86_64", 5)),
    "Linux arm64": ({"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "aarch64"},
                    _manylinux("aarch64", 17)),
    "macOS x86-64": ({"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "x86_64"},
                     list(mac_platforms((14, 0), "x86_64"))),
    "macOS arm64": ({"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64"},
                    list(mac_platforms((14, 0), "arm64"))),
    "Windows x86-64": ({"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64"},
                       ["win_amd64"]),
}


def read_pins(path: Path) -> list[Requirement]:
    """The requirements in a pip requirements file, following `-r` includes."""
    pins = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r"):
            pins += read_pins(path.parent / line[2:].strip())
        elif line:
            pins.append(Requirement(line))
    return pins


def accepted_tags(python: str, platforms: list[str]) -> set[Tag]:
    version = tuple(int(part) for part in python.split("."))
    cp = f"cp{version[0]}{version[1]}"
    return {*cpython_tags(version, [cp], platforms), *compatible_tags(version, cp, platforms)}


def installable(files: list[dict], python: str, platforms: list[str]) -> str | None:
    """'wheel' or 'sdist' if one of the release's files serves this Python on this platform, else None."""
    tags = accepted_tags(python, platforms)
    usable = [f for f in files if not f.get("yanked") and SpecifierSet(f.get("requires-python") or "").contains(python)]
    if any(f["filename"].endswith(".whl") and parse_wheel_filename(f["filename"])[3] & tags for f in usable):
        return "wheel"
    return "sdist" if any(not f["filename"].endswith(".whl") for f in usable) else None


def _version(filename: str) -> Version | None:
    """The version a wheel or source package file holds; None for other files (eggs, installers)."""
    try:
        return parse_wheel_filename(filename)[1] if filename.endswith(".whl") else parse_sdist_filename(filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None


def release_files(pin: Requirement) -> list[dict]:
    """The wheels and source packages of the pinned release."""
    (version,) = [Version(spec.version) for spec in pin.specifier if spec.operator == "=="] or [None]
    if version is None:
        raise ValueError(f"{pin}: not pinned with ==")
    request = urllib.request.Request(INDEX.format(name=canonicalize_name(pin.name)),
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        files = [f for f in json.load(response)["files"] if _version(f["filename"]) == version]
    if not files:
        raise ValueError(f"{pin}: PyPI has no files for this version")
    return files


def gaps(pin: Requirement, files: list[dict]) -> tuple[list[str], list[str]]:
    """Where this pin cannot be installed, and where it installs only from source: "PLATFORM (CPython 3.x, ...)"."""
    missing, source_only = [], []
    for platform, (environment, tags) in PLATFORMS.items():
        found = {}
        for python in PYTHONS:
            env = {**environment, "python_version": python, "python_full_version": f"{python}.0",
                   "implementation_name": "cpython", "platform_python_implementation": "CPython"}
            if pin.marker is None or pin.marker.evaluate(env):
                found[python] = installable(files, python, tags)
        for kind, out in ((None, missing), ("sdist", source_only)):
            versions = [python for python, got in found.items() if got == kind]
            if versions:
                out.append(f"{platform} (CPython {', '.join(versions)})")
    return missing, source_only


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.check_wheels", description=__doc__.split("\n")[0])
    p.add_argument("requirements", nargs="*", type=Path, default=[ROOT / "requirements.txt"])
    args = p.parse_args(argv)
    pins = [pin for path in args.requirements for pin in read_pins(path) if pin.name not in SKIP]
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            releases = list(pool.map(release_files, pins))
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = accepted_count = 0
    for pin, files in zip(pins, releases):
        missing, source_only = gaps(pin, files)
        known, why = KNOWN_GAPS.get(canonicalize_name(pin.name), (set(), ""))
        accepted = bool(missing) and {gap.split(" (")[0] for gap in missing} <= known
        failed += bool(missing) and not accepted
        accepted_count += accepted
        label = "KNOWN GAP" if accepted else "GAP" if missing else "ok"
        print(f"{label}  {pin}" + (f": nothing for {'; '.join(missing)}" if missing else "")
              + (f" ({why})" if accepted else "")
              + (f" (source package only: {'; '.join(source_only)})" if source_only else ""))
    platforms = ", ".join(PLATFORMS)
    print(f"{len(pins) - failed - accepted_count} of {len(pins)} pins install on {platforms}, on CPython "
          f"{', '.join(PYTHONS)}" + (f"; {accepted_count} with a known gap, listed above" if accepted_count else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
