"`scaleattn autolabel` end to end on the bundled sample with a tiny model: layout, re-run skips, bad images, bad output folder, training on the pool."
import json, shutil, subprocess
from pathlib import Path
import numpy as np, pytest
from PIL import Image

from _cli import run_scaleattn as _run

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    "An untrained 11-class hierarchical model: its confidence is about 1/11 everywhere, so threshold 0.05 labels every pixel."
    import torch
    from scaleattn_nb.models import create_model, save_checkpoint
    torch.manual_seed(0)
    return save_checkpoint(create_model("hierarchical", classes=11), tmp_path_factory.mktemp("ck") / "tiny.pt",
                           train_config=dict(dataset="sample"))

def test_dataset_layout_report_and_rerun(tiny, tmp_path):
    out = tmp_path / "pool"
    args = ["autolabel", "--checkpoint", str(tiny), "--dataset", "sample", "--split", "val", "--out", str(out),
            "--threshold", "0.05", "--scales", "1.0", "--save-confidence", "--json"]
    r = _run(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)
    assert (res["labelled"], res["skipped"], res["failed"]) == (4, 0, [])
    assert res["totals"]["labelled_fraction"] == 1.0 and res["totals"]["coverage"] == 1.0
    from scaleattn_nb.data import get_dataset, CAMVID_CLASSES
    ds = get_dataset("folder", out, "all")
    assert len(ds) == 4 and ds.classes == CAMVID_CLASSES
    assert all((ds.load_label(i) < 11).all() for i in range(4))
    assert len(list((out / "confidence").glob("*.png"))) == 4
    rep = json.loads((out / "report.json").read_text())
    assert len(rep["per_image"]) == 4 and sum(rep["totals"]["class_pixels"].values()) == 4 * 360 * 480
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "labels").iterdir()}
    r = _run(*args)                                            # a re-run skips what is done
    assert r.returncode == 0, r.stderr[-3000:]
    res2 = json.loads(r.stdout)
    assert (res2["labelled"], res2["skipped"]) == (0, 4) and res2["totals"] == res["totals"]
    assert {p.name: p.stat().st_mtime_ns for p in (out / "labels").iterdir()} == stamps
    r = _run(*[a if a != "0.05" else "0.5" for a in args])     # other settings into the same folder: refused
    assert r.returncode == 2 and "other settings" in r.stderr
    assert not [p for p in out.rglob(".*.tmp")]

def test_unreadable_image_is_reported_and_the_run_goes_on(tiny, tmp_path):
    src = tmp_path / "in"; src.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "c.jpg"): Image.fromarray(rng.integers(0, 255, (40, 50, 3), np.uint8)).save(src / name)
    (src / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    r = _run("autolabel", "--checkpoint", str(tiny), "--input", str(src), "--out", str(tmp_path / "out"), "--threshold", "0.05",
             "--scales", "1.0")
    assert r.returncode == 1, r.stderr[-3000:]
    assert "b.png" in r.stderr and "cannot read image" in r.stderr
    assert sorted(p.name for p in (tmp_path / "out" / "images").iterdir()) == ["a.png", "c.jpg"]
    assert sorted(p.name for p in (tmp_path / "out" / "labels").iterdir()) == ["a.png", "c.png"]
    assert "2 images" in r.stdout and "1 failed" in r.stdout

def test_unwritable_output_is_a_clear_error(tiny, tmp_path):
    blocker = tmp_path / "file"; blocker.write_text("x")
    r = _run("autolabel", "--checkpoint", str(tiny), "--dataset", "sample", "--split", "val", "--out", str(blocker / "sub"))
    assert r.returncode == 2 and "not writable" in r.stderr

def test_train_reads_the_pool(tiny, tmp_path):
    pool = tmp_path / "pool"
    r = _run("autolabel", "--checkpoint", str(tiny), "--dataset", "sample", "--split", "val", "--out", str(pool),
             "--threshold", "0.05", "--scales", "1.0", "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    r = _run("train", "--method", "single", "--dataset", "sample", "--crop-size", "64", "64", "--batch-size", "2", "--iters", "2",
             "--workers", "0", "--val-split", "none", "--no-progress", "--out", str(tmp_path / "run"),
             "--pseudo-root", str(pool), "--pseudo-prob", "0.5", "--class-uniform", "0.5")
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.strip().splitlines()[-1])["iterations"] == 2
