"""The apps depend on each other one way only (docs/architecture.md, "Apps and their
dependencies"): the import-linter contract in pyproject.toml, run on every import of every
module of every app, imports inside functions and for type checking included."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent


def _config() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def _lint(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = lint_imports(config_filename=str(config), no_cache=True)
    return status, capsys.readouterr().out


def test_app_imports_go_one_way(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    status, report = _lint(ROOT / "pyproject.toml", capsys)
    assert status == 0, report


def test_every_app_of_ours_has_its_layer():
    ours = {c.name for c in apps.get_app_configs() if Path(c.path).parent == ROOT}
    config = _config()
    assert set(config["root_packages"]) == ours
    (layers,) = (c["layers"] for c in config["contracts"] if c["type"] == "layers")
    assert {app.strip() for layer in layers for app in layer.split("|")} == ours


def test_an_import_inside_a_function_breaks_the_layers(tmp_path, monkeypatch, capsys):
    for package in ("low", "high"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "high" / "models.py").write_text("X = 1\n")
    (tmp_path / "low" / "services.py").write_text(
        "def f():\n    from high.models import X\n\n    return X\n"
    )
    config = tmp_path / "pyproject.toml"
    config.write_text(
        '[tool.importlinter]\nroot_packages = ["low", "high"]\n\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "layers"\ntype = "layers"\nlayers = ["high", "low"]\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    status, report = _lint(config, capsys)
    assert status == 1
    assert "low.services -> high.models" in report
