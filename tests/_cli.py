"Shared by the tests that run the installed `scaleattn` console script in a subprocess."
import shutil, subprocess

def scaleattn_exe() -> str:
    "Path of the `scaleattn` console script; a clear failure when the package is not installed."
    exe = shutil.which("scaleattn")
    assert exe, "the scaleattn console script is not on PATH: install the package (pip install -e .)"
    return exe

def run_scaleattn(*args, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    "Run `scaleattn *args`, capturing text output."
    return subprocess.run([scaleattn_exe(), *map(str, args)], capture_output=True, text=True, timeout=timeout, **kw)
