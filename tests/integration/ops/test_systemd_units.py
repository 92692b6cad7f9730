"""The service units of config/systemd/, checked by ``systemd-analyze verify`` (Debian's
``systemd`` package; .ci/machine installs it).

``verify`` needs the programs a unit starts to exist, so it checks a copy whose paths of the
release (/opt/miniapp, its virtualenv) point at this checkout and its virtualenv. It exits 0
on an unknown key or a value it cannot parse (it only warns), so any word from it fails.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
UNITS = ROOT / "config" / "systemd"
NAMES = ("miniapp-app", "miniapp-worker", "miniapp-edge", "miniapp-migrate")
RELEASE = "/opt/miniapp"


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.fail("systemd-analyze is missing: apt-get install systemd (.ci/machine does)")
    return found


def on_this_machine(unit: Path, directory: Path) -> Path:
    """A copy of ``unit`` whose release paths are this checkout's and its virtualenv's."""
    text = unit.read_text()
    text = text.replace(f"{RELEASE}/venv/bin/", f"{Path(sys.executable).parent}/")
    text = text.replace(RELEASE, str(ROOT))
    copy = directory / unit.name
    copy.write_text(text)
    return copy


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  # our own argv, no shell
        [systemd_analyze(), "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=unit.parent,
    )


def service(unit: Path) -> configparser.SectionProxy:
    """The [Service] section (several ExecReload= lines: the last one wins here)."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(unit.read_text())
    return parser["Service"]


@pytest.mark.parametrize("name", NAMES)
def test_each_unit_passes_systemd_analyze_verify(name: str, tmp_path: Path) -> None:
    if "edge" in name and shutil.which("haproxy") != "/usr/sbin/haproxy":
        pytest.fail("haproxy is not /usr/sbin/haproxy: apt-get install haproxy (.ci/machine)")
    result = verify(on_this_machine(UNITS / f"{name}.service", tmp_path))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_verify_would_catch_a_misspelt_key_and_a_missing_program(tmp_path: Path) -> None:
    worker = on_this_machine(UNITS / "miniapp-worker.service", tmp_path)
    text = worker.read_text()
    misspelt = tmp_path / "misspelt.service"
    misspelt.write_text(text.replace("KillSignal=", "KillSignl="))
    missing = tmp_path / "missing.service"
    missing.write_text(text.replace(f"{Path(sys.executable).parent}/miniapp", "/nowhere/miniapp"))

    assert "Unknown key 'KillSignl'" in verify(misspelt).stderr
    assert verify(missing).returncode != 0


@pytest.mark.parametrize("name", NAMES)
def test_every_service_is_confined(name: str) -> None:
    found = service(UNITS / f"{name}.service")
    assert found["NoNewPrivileges"] == "yes"
    assert found["ProtectSystem"] == "strict"
    assert found["PrivateTmp"] == "yes"
    assert found["User"] not in ("root", "nobody")


def test_the_app_node_reloads_gracefully_and_keeps_its_files_in_its_runtime_directory() -> None:
    found = service(UNITS / "miniapp-app.service")
    assert found["ExecReload"] == "/bin/kill -HUP $MAINPID"
    run = f"/run/{found['RuntimeDirectory']}/"
    lines = (UNITS / "miniapp-app.service").read_text().splitlines()
    assignments = [line.removeprefix("Environment=") for line in lines]
    environment = {
        name: value
        for name, _, value in (text.partition("=") for text in assignments)
        if not name.startswith(("#", "[")) and name.isupper()
    }
    # What ProtectSystem=strict leaves writable: gunicorn's metrics files and control socket.
    assert environment["PROMETHEUS_MULTIPROC_DIR"].startswith(run)
    assert environment["MINIAPP_CONTROL_SOCKET"].startswith(run)
    # The app reads its env file (and again on a reload), in python-dotenv's syntax.
    assert environment["MINIAPP_ENV_FILE"] == "/etc/miniapp/miniapp.env"
