"`scaleattn demo` — the README's main job — on the bundled sample and the shipped checkpoints, as a user runs it."
import json, shutil, subprocess
from pathlib import Path
from scaleattn_nb.models import PRETRAINED, SHIPPED_MB, pretrained_dir
from scaleattn_nb.models import shipped_names
from _cli import run_scaleattn

def test_shipped_checkpoints_present_and_small():
    names = shipped_names()
    assert set(names) == set(PRETRAINED), names                      # all three CamVid models ship
    assert sum((pretrained_dir() / f"{n}.pt").stat().st_size for n in names) <= SHIPPED_MB * 1e6   # the budget, together

def test_demo_end_to_end(tmp_path):
    out = tmp_path / "report"
    r = run_scaleattn("demo", "--out", out, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"report: {(out / 'index.html').resolve()}" in r.stdout
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert {row["model"] for row in rows} == set(shipped_names())
    assert all(0 <= row["miou"] <= 1 for row in rows)
    key = {(row["model"], tuple(row["scales"]), row["merge"]) for row in rows}
    assert ("camvid-hierarchical", (0.25, 0.5, 1.0, 2.0), "attention") in key
    assert ("camvid-single", (0.5, 1.0), "attention") not in key          # no attention in a single-scale model
    assert ("camvid-explicit", (0.5, 0.75, 1.0), "attention") in key
    assert ("camvid-explicit", (0.5, 1.0, 2.0), "attention") not in key       # its softmax head only knows its own scales
    html = (out / "index.html").read_text()
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) >= 4 * len(shipped_names()) + len(shipped_names()) and all(p in html for p in pngs)
    h = next(row for row in rows if row["model"] == "camvid-hierarchical" and row["scales"] == [0.5, 1.0, 2.0] and row["merge"] == "attention")
    assert f"{100 * h['miou']:.1f}" in r.stdout                          # the printed table holds the saved numbers

def test_demo_bad_checkpoint(tmp_path):
    r = run_scaleattn("demo", "--out", tmp_path / "x", "--checkpoints", "camvid-nope", timeout=300)
    assert r.returncode == 2 and "camvid-nope" in r.stderr
