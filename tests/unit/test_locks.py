"""The two locks match pyproject.toml: runtime apart from dev, both by pip-compile (no network)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "requirements.lock"
DEV = ROOT / "requirements-dev.lock"


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    text = lock.read_text(encoding="utf-8")
    return {
        normalized(name): version
        for name, version in re.findall(r"^([A-Za-z0-9][\w.-]*)==(\S+)", text, re.MULTILINE)
    }


def declared(extra: str | None) -> dict[str, str]:
    """The direct dependencies of pyproject.toml (runtime, or one extra) and their pins."""
    with (ROOT / "pyproject.toml").open("rb") as handle:
        project = tomllib.load(handle)["project"]
    lines = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    found = {}
    for line in lines:
        requirement = Requirement(line)
        (spec,) = requirement.specifier  # pinned: one ==
        assert spec.operator == "==", f"{line}: pin it with =="
        found[normalized(requirement.name)] = spec.version
    return found


def test_each_runtime_dependency_is_locked_at_its_pin_in_both_locks() -> None:
    runtime, dev = pins(RUNTIME), pins(DEV)
    for name, version in declared(None).items():
        assert runtime.get(name) == version, f"requirements.lock: {name}"
        assert dev.get(name) == version, f"requirements-dev.lock: {name}"


def test_each_dev_dependency_is_locked_at_its_pin_in_the_dev_lock_only() -> None:
    runtime, dev = pins(RUNTIME), pins(DEV)
    for name, version in declared("dev").items():
        assert dev.get(name) == version, f"requirements-dev.lock: {name}"
        assert name not in runtime, f"requirements.lock installs the dev tool {name}"
    for tool in ("pytest", "selenium", "mypy", "ruff", "zxing-cpp", "hypothesis", "pip-tools"):
        assert tool not in runtime


def test_the_dev_lock_holds_the_runtime_lock_unchanged() -> None:
    runtime, dev = pins(RUNTIME), pins(DEV)
    assert len(runtime) > 30
    assert {name: dev.get(name) for name in runtime} == runtime


def test_each_lock_says_the_command_that_wrote_it_and_names_no_other_index() -> None:
    commands = {
        RUNTIME: "pip-compile --output-file=requirements.lock --strip-extras pyproject.toml",
        DEV: "pip-compile --allow-unsafe --constraint=requirements.lock --extra=dev "
        "--output-file=requirements-dev.lock --strip-extras pyproject.toml",
    }
    for lock, command in commands.items():
        text = lock.read_text(encoding="utf-8")
        assert f"#    {command}\n" in text[:600], f"{lock.name}: regenerate it with {command}"
        for option in ("--index-url", "--extra-index-url", "--find-links", "file://"):
            assert option not in text, f"{lock.name}: packages come from the default index only"
