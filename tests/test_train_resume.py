"A run killed with SIGKILL mid-epoch and resumed ends with the same weights as one that never stopped (CPU, tiny data)."
import os, shutil, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch
from _cli import scaleattn_exe

ARGS = ["--method", "hierarchical", "--dataset", "sample", "--crop-size", "64", "64", "--batch-size", "2",
        "--iters", "12", "--workers", "0", "--val-split", "none", "--checkpoint-every", "1", "--no-progress", "--seed", "3"]

def _cmd(out, *extra):
    return [scaleattn_exe(), "train", *ARGS, "--out", str(out), *extra]

def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]

def _pool(root):
    "The sample's val frames in the folder layout: a stand-in for a pseudo-labelled pool."
    from PIL import Image
    from scaleattn_nb.data import get_dataset
    ds = get_dataset("sample", split="val")
    (root / "images").mkdir(parents=True); (root / "labels").mkdir()
    for i, (img, _) in enumerate(ds.files):
        shutil.copy(img, root / "images" / img.name)
        Image.fromarray(ds.load_label(i)).save(root / "labels" / f"{img.stem}.png")
    (root / "classes.txt").write_text("\n".join(ds.classes) + "\n")
    return root

@pytest.mark.parametrize("sampling", ["plain", "class-uniform+pseudo"])
def test_kill_and_resume_matches_uninterrupted(tmp_path, sampling):
    extra = [] if sampling == "plain" else [     # class-uniform draws and a pseudo-labelled pool must resume exactly too
        "--class-uniform", "0.5", "--pseudo-root", str(_pool(tmp_path / "pool")), "--pseudo-prob", "0.5"]
    r = subprocess.run(_cmd(tmp_path / "a", *extra), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    # the same run, killed once it has written a checkpoint past iteration 5 (the sample has < 12 images: mid-epoch)
    p = subprocess.Popen(_cmd(tmp_path / "b", *extra), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    last = tmp_path / "b" / "last.pt"
    deadline = time.time() + 600
    while time.time() < deadline and p.poll() is None:
        if last.exists():
            try:
                if torch.load(last, map_location="cpu", weights_only=True)["extra"]["iteration"] >= 5: break
            except Exception: pass  # being replaced at this moment
        time.sleep(0.05)
    assert p.poll() is None, "the run finished before it could be killed: make it longer"
    os.kill(p.pid, signal.SIGKILL); p.wait()
    killed_at = torch.load(last, map_location="cpu", weights_only=True)["extra"]["iteration"]
    assert 5 <= killed_at < 12
    r = subprocess.run(_cmd(tmp_path / "b", *extra, "--resume"), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = _weights(tmp_path / "a" / "last.pt"), _weights(tmp_path / "b" / "last.pt")
    assert a.keys() == b.keys()
    diff = [k for k in a if not torch.equal(a[k], b[k])]
    assert not diff, f"weights differ after kill/resume in {len(diff)} tensors, e.g. {diff[:3]}"

def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    r = subprocess.run(_cmd(tmp_path / "none", "--resume"), capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "no checkpoint" in r.stderr
