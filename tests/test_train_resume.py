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

def _wait_for(p, last, ok, what):
    "Poll `last` until `ok(extra)` holds while `p` runs; fail if `p` ends first."
    deadline = time.time() + 600
    while time.time() < deadline and p.poll() is None:
        if last.exists():
            try:
                if ok(torch.load(last, map_location="cpu", weights_only=True)["extra"]): return
            except Exception: pass  # being replaced at this moment
        time.sleep(0.05)
    assert p.poll() is None, f"the run finished before it could be killed ({what}): make it longer"

# (sampling, cache of the uninterrupted run, cache of the killed run, cache of its resume): the decoded cache and the
# file-reading workers make the same batches, so a run may even be resumed on the other path
@pytest.mark.parametrize("sampling,cache_a,cache_b,cache_resume", [
    ("plain", "ram", "ram", "ram"), ("plain", "none", "ram", "none"), ("class-uniform+pseudo", "ram", "none", "ram")])
def test_kill_and_resume_matches_uninterrupted(tmp_path, sampling, cache_a, cache_b, cache_resume):
    extra = [] if sampling == "plain" else [     # class-uniform draws and a pseudo-labelled pool must resume exactly too
        "--class-uniform", "0.5", "--pseudo-root", str(_pool(tmp_path / "pool")), "--pseudo-prob", "0.5"]
    cache = lambda c: ["--cache", c] + (["--workers", "2"] if c == "none" else [])
    r = subprocess.run(_cmd(tmp_path / "a", *extra, *cache(cache_a)), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    # the same run, killed once it has written a checkpoint past iteration 5 (the sample has < 12 images: mid-epoch)
    p = subprocess.Popen(_cmd(tmp_path / "b", *extra, *cache(cache_b)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    last = tmp_path / "b" / "last.pt"
    _wait_for(p, last, lambda ex: ex["iteration"] >= 5, "iteration 5")
    os.kill(p.pid, signal.SIGKILL); p.wait()
    killed_at = torch.load(last, map_location="cpu", weights_only=True)["extra"]["iteration"]
    assert 5 <= killed_at < 12
    r = subprocess.run(_cmd(tmp_path / "b", *extra, *cache(cache_resume), "--resume"), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = _weights(tmp_path / "a" / "last.pt"), _weights(tmp_path / "b" / "last.pt")
    assert a.keys() == b.keys()
    diff = [k for k in a if not torch.equal(a[k], b[k])]
    assert not diff, f"weights differ after kill/resume in {len(diff)} tensors, e.g. {diff[:3]}"

def test_budget_run_killed_is_unfinished_and_resumes_to_its_plan(tmp_path):
    """A run with --budget fixes its iteration count; killed after that it is marked unfinished, and --resume completes the plan
    (the one it was killed with, or that plan revised at an epoch end if the resumed process runs at another speed)."""
    args = [a for a in _cmd(tmp_path / "c") if a not in ("--iters", "12")] + ["--budget", "0.4", "--method", "single"]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    last = tmp_path / "c" / "last.pt"
    _wait_for(p, last, lambda ex: ex["progress"]["iterations_planned"] and ex["iteration"] >= ex["progress"]["iterations_planned"] // 2,
              "half its planned iterations")
    os.kill(p.pid, signal.SIGKILL); p.wait()
    prog = torch.load(last, map_location="cpu", weights_only=True)["extra"]["progress"]
    assert prog["finished"] is False and 0 < prog["iterations_done"] < prog["iterations_planned"]
    assert prog["images_seen"] == 2 * prog["iterations_done"] and prog["budget_min"] == 0.4 and prog["device"].startswith("cpu")
    r = subprocess.run(args + ["--resume"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    done = torch.load(last, map_location="cpu", weights_only=True)["extra"]["progress"]
    assert done["finished"] is True and done["iterations_done"] == done["iterations_planned"] > prog["iterations_done"]
    assert done["iterations_planned"] == prog["iterations_planned"] or done["replans"] > prog["replans"]
    assert done["wall_s"] > prog["wall_s"]

def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    r = subprocess.run(_cmd(tmp_path / "none", "--resume"), capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "no checkpoint" in r.stderr

def test_budget_probe_leaves_out_the_first_validation_pass(tmp_path, monkeypatch):
    """The budget's validation estimate is timed after one untimed image: the first pass at evaluation shapes pays one-off
    costs (cuDNN and kernel selection on a GPU), and scaled to the whole split it once planned 131 s for an H200's 2 s
    validation, so the run stopped after its 13 probe steps. Here the first evaluation call sleeps 5 s."""
    import json
    from scaleattn_nb import train as T
    calls, secs, real = [], [], T.evaluate
    def evaluate(*a, **kw):
        if not calls: time.sleep(5.0)
        calls.append(len(a[1])); t = time.perf_counter(); out = real(*a, **kw); secs.append(time.perf_counter() - t)
        return out
    monkeypatch.setattr(T, "evaluate", evaluate)
    r = T.train(T.TrainConfig(method="single", dataset="sample", crop_size=(64, 64), batch_size=2, workers=0, budget=0.5,
                              val_every=1000, out=str(tmp_path / "b"), progress=False, seed=0))   # validated at the end only
    plan = [json.loads(l) for l in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines() if '"plan"' in l][0]
    n = calls[-1]                                        # the final validation: the whole split
    assert calls == [1, min(T.PROBE_VAL_IMAGES, n - 1), n], calls    # one image untimed, the timed probe, the end
    k = calls[1]                                         # the estimate is the timed probe scaled to the split, no sleep in it
    assert plan["val_s"] == pytest.approx(secs[1] * n / k, rel=0.25), (plan, secs)
    assert r["finished"] and r["iterations"] == r["planned"] > plan["iteration"], r
