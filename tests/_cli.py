"Shared by the tests that run the installed `scaleattn` console script in a subprocess."
import os, shutil, subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

def scaleattn_exe() -> str:
    "Path of the `scaleattn` console script; a clear failure when the package is not installed."
    exe = shutil.which("scaleattn")
    assert exe, "the scaleattn console script is not on PATH: install the package (pip install -e .)"
    return exe

def run_scaleattn(*args, timeout: float = 600, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    """Run `scaleattn *args`, capturing text output. The console script imports `scaleattn_nb` from this checkout (its root
    comes first on PYTHONPATH), so a second worktree's tests run that worktree's code, not the one installed in the venv."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run([scaleattn_exe(), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env, **kw)
