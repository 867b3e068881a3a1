"""The project's packaging files agree with each other and with the brief."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_names() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["test"]
    return {_name(r) for r in requirements}


def _environment_names() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_name(r) for r in dep["pip"]}
        else:
            names.add(_name(dep))
    return names - {"python", "pip"}


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    assert _environment_names() == _pyproject_names()


def test_pins_agree_where_both_pin():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {_name(r): r.replace(" ", "") for r in project["dependencies"] if "=" in r}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = {_name(r): r.replace(" ", "") for r in env["dependencies"][-1]["pip"]}
    for name, pin in pins.items():
        if name in pip:
            assert pip[name] == pin, f"{name}: pyproject {pin!r} vs environment.yml {pip[name]!r}"


def test_top_level_layout_is_as_the_brief_says():
    for entry in (
        "tlcourse",
        "notebooks",
        "data",
        "tests",
        "environment.yml",
        "README.md",
        "pyproject.toml",
        ".ci/run",
    ):
        assert (ROOT / entry).exists(), entry


def test_requires_python_311_and_installs_the_cli():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    assert project["scripts"]["tlcourse"] == "tlcourse.cli:main"


def test_every_shipped_data_file_goes_into_a_regular_install():
    # A non-editable install (pip install git+URL, Colab) carries data/ as tlcourse._shipped_data.
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"]["tlcourse._shipped_data"] == "data"
    patterns = setuptools["package-data"]["tlcourse._shipped_data"]
    data = ROOT / "data"
    files = [p for p in data.rglob("*") if p.is_file()]
    assert len(files) > 180
    missed = [p for p in files if not any(p.relative_to(data).match(g) for g in patterns)]
    assert missed == []


def test_data_dir_falls_back_to_the_installed_copy(tmp_path, monkeypatch):
    from tlcourse import paths

    monkeypatch.delenv("TLCOURSE_DATA_DIR", raising=False)
    monkeypatch.setattr(paths, "_REPO_DATA", tmp_path / "no-clone-here")
    monkeypatch.setattr(paths, "_INSTALLED_DATA", tmp_path / "_shipped_data")
    assert paths.data_dir() == tmp_path / "_shipped_data"
    monkeypatch.setenv("TLCOURSE_DATA_DIR", str(tmp_path / "mine"))
    assert paths.data_dir() == tmp_path / "mine"


def test_every_package_of_tlcourse_goes_into_a_regular_install():
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "tlcourse").rglob("__init__.py")
    }
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"


def test_the_top_level_is_the_verbs_students_type():
    import tlcourse as tl

    assert len(tl.__all__) <= 30, sorted(tl.__all__)
    assert len(set(tl.__all__)) == len(tl.__all__)
    assert all(hasattr(tl, name) for name in tl.__all__)
    # The figures, the backbone registry and the exceptions are namespaces of their own.
    assert tl.plots.plot_comparison and tl.backbones.find_backbone and tl.errors.TLCourseError
    assert "plot_comparison" not in tl.__all__ and "InvalidParameterError" not in tl.__all__
