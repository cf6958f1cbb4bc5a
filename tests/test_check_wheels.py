"""The wheels check's verdicts, on file lists shaped like PyPI's (the check itself runs in `make check-wheels`)."""

from packaging.requirements import Requirement

from tools.check_wheels import gaps, read_pins

EVERYWHERE = ["Linux x86-64", "Linux arm64", "macOS x86-64", "macOS arm64", "Windows x86-64"]


def files(*names: str, requires: str | None = None) -> list[dict]:
    return [{"filename": name, "requires-python": requires, "yanked": False} for name in names]


def test_a_linux_x86_only_extension_has_gaps_everywhere_else():
    only = files("range_coder-1.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                 "range_coder-1.1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    missing, source_only = gaps(Requirement("range-coder==1.1"), only)
    assert missing == ["Linux x86-64 (CPython 3.13)"] + [f"{p} (CPython 3.11, 3.12, 3.13)" for p in EVERYWHERE[1:]]
    assert source_only == []


def test_a_marker_limits_where_a_pin_is_needed():
    only = files("range_coder-1.1-cp311-cp311-manylinux2010_x86_64.whl", "range_coder-1.1-cp312-cp312-manylinux2010_x86_64.whl")
    pin = Requirement('range-coder==1.1; sys_platform == "linux" and platform_machine == "x86_64" '
                      'and python_version < "3.13"')
    assert gaps(pin, only) == ([], [])


def test_pure_wheels_abi3_universal2_and_sdists():
    assert gaps(Requirement("tqdm==4.70.1"), files("tqdm-4.70.1-py3-none-any.whl")) == ([], [])
    abi3 = files("x-1.0-cp39-abi3-manylinux_2_28_aarch64.whl", "x-1.0-cp39-abi3-manylinux_2_17_x86_64.whl",
                 "x-1.0-cp39-abi3-macosx_11_0_universal2.whl", "x-1.0-cp39-abi3-win_amd64.whl")
    assert gaps(Requirement("x==1.0"), abi3) == ([], [])
    too_new = files("x-1.0-cp39-abi3-manylinux_2_34_aarch64.whl")  # needs a newer glibc than the 2.28 assumed
    assert "Linux arm64 (CPython 3.11, 3.12, 3.13)" in gaps(Requirement("x==1.0"), too_new)[0]
    missing, source_only = gaps(Requirement("y==2.0"), files("y-2.0.tar.gz"))
    assert missing == [] and source_only == [f"{p} (CPython 3.11, 3.12, 3.13)" for p in EVERYWHERE]


def test_requires_python_and_yanked_files_do_not_count():
    old = files("z-1.0-py3-none-any.whl", requires="<3.12")
    assert gaps(Requirement("z==1.0"), old)[0] == [f"{p} (CPython 3.12, 3.13)" for p in EVERYWHERE]
    yanked = [{**f, "yanked": "broken"} for f in files("z-1.0-py3-none-any.whl")]
    assert len(gaps(Requirement("z==1.0"), yanked)[0]) == len(EVERYWHERE)


def test_read_pins_follows_includes(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("# why\nnumpy==2.4.6  # pinned\n")
    (tmp_path / "all.txt").write_text("-r sub/a.txt\n\nruff==0.17.6\n")
    assert [str(pin) for pin in read_pins(tmp_path / "all.txt")] == ["numpy==2.4.6", "ruff==0.17.6"]
