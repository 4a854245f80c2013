"`scaleattn train` for a few iterations on the bundled sample, then `eval` and `predict` on CPU; bad checkpoints fail clearly."
import json, os, pickle, shutil, subprocess
from pathlib import Path
import numpy as np, pytest, torch
from PIL import Image

from _cli import run_scaleattn as _run

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    r = _run("train", "--method", "hierarchical", "--dataset", "sample", "--crop-size", "96", "128", "--batch-size", "2",
             "--iters", "3", "--workers", "0", "--no-progress", "--out", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["iterations"] == 3 and Path(res["best"]).exists()       # validated at the end: best.pt written
    assert any("val_miou" in json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines())
    return out

def test_eval_json(trained):
    r = _run("eval", "--checkpoint", str(trained / "best.pt"), "--dataset", "sample", "--split", "val",
             "--scales", "0.5", "1.0", "2.0", "--flip", "--json", "--workers", "0")
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)
    assert 0 <= res["miou"] <= 1 and res["images"] == 4 and res["scales"] == [0.5, 1.0, 2.0]
    assert len(res["iou"]) == 11

def test_predict_folder(trained, tmp_path):
    (tmp_path / "in").mkdir()
    Image.fromarray(np.random.randint(0, 255, (70, 90, 3), np.uint8)).save(tmp_path / "in" / "x.png")
    r = _run("predict", "--checkpoint", str(trained / "best.pt"), "--input", str(tmp_path / "in"),
             "--out", str(tmp_path / "out"), "--scales", "0.5", "1.0", "--save-attention")
    assert r.returncode == 0, r.stderr[-3000:]
    assert Image.open(tmp_path / "out" / "x.png").size == (90, 70)
    assert (tmp_path / "out" / "x_weight_0.5.png").exists() and (tmp_path / "out" / "x_weight_1.png").exists()

def test_eval_rejects_wrong_scales_for_explicit(tmp_path):
    from scaleattn_nb.models import create_model, save_checkpoint
    save_checkpoint(create_model("explicit", classes=11), tmp_path / "e.pt")
    r = _run("eval", "--checkpoint", str(tmp_path / "e.pt"), "--scales", "0.5", "1.0", "--workers", "0")
    assert r.returncode == 2 and "trained on scales" in r.stderr

def test_missing_and_foreign_checkpoints_are_clear_errors(tmp_path):
    r = _run("eval", "--checkpoint", str(tmp_path / "nope.pt"))
    assert r.returncode == 2 and "does not exist" in r.stderr
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    r = _run("eval", "--checkpoint", str(tmp_path / "foreign.pt"))
    assert r.returncode == 2 and "not a scaleattn_nb checkpoint" in r.stderr

class _Evil:
    def __init__(self, marker): self.marker = marker
    def __reduce__(self): return (os.system, (f"touch {self.marker}",))

def test_crafted_pickle_does_not_run_code(tmp_path):
    marker = tmp_path / "pwned"
    with open(tmp_path / "evil.pt", "wb") as f: pickle.dump({"format": "scaleattn_nb.checkpoint/1", "x": _Evil(marker)}, f)
    torch.save({"format": "scaleattn_nb.checkpoint/1", "x": _Evil(marker)}, tmp_path / "evil2.pt")
    for name in ("evil.pt", "evil2.pt"):
        r = _run("eval", "--checkpoint", str(tmp_path / name))
        assert r.returncode != 0
        assert not marker.exists(), "loading a checkpoint ran code from its pickle"

def test_unwritable_output_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"; blocker.write_text("x")
    r = _run("train", "--dataset", "sample", "--iters", "1", "--out", str(blocker / "sub"), "--no-progress")
    assert r.returncode == 2 and "not writable" in r.stderr
