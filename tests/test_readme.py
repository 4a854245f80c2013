"README.md, CI and the notebooks stay in step (Quarto is not available here, so nbdev_readme cannot do it)."
import re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_readme_matches_index_notebook():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "nb2readme.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

def _commands():
    return re.findall(r"^```sh\n(.+?)\n```", (ROOT / "README.md").read_text(), flags=re.M)

def test_readme_has_main_and_test_commands():
    cmds = _commands()
    assert any("pip install -e ." in c and "scaleattn " in c for c in cmds), cmds
    assert any("nbdev_test" in c and "pytest" in c for c in cmds), cmds

def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    test_cmd = next(c for c in _commands() if "nbdev_test" in c)
    # CI takes the command out of README.md rather than keeping a copy that could drift
    assert "README.md" in ci and "nbdev_test" in ci
    assert test_cmd.startswith("python3 -m venv .venv")

def test_settings_pin_nbdev2_and_flags():
    ini = (ROOT / "settings.ini").read_text()
    assert re.search(r"^tst_flags = notest slow gpu$", ini, re.M)
    assert "nbdev==2.4." in ini
    assert "scaleattn=scaleattn_nb.cli:main" in ini
