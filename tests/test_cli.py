"The installed `scaleattn` console script, end to end in a subprocess."
from _cli import run_scaleattn

def _run(*args): return run_scaleattn(*args, timeout=300)

def test_info_self_check_passes():
    r = _run("info", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert "self-check passed" in r.stdout

def test_unknown_command_is_refused():
    r = _run("frobnicate")
    assert r.returncode == 2 and "invalid choice" in r.stderr

def test_cuda_request_without_cuda_is_a_clear_error():
    import torch
    if torch.cuda.is_available(): return
    r = _run("info", "--device", "cuda")
    assert r.returncode == 2 and "no CUDA device" in r.stderr
