"`scaleattn demo` — the README's main job — on the bundled sample and the shipped checkpoints, as a user runs it."
import json, shutil, subprocess
from pathlib import Path
from scaleattn_nb.models import PRETRAINED, pretrained_dir

def test_shipped_checkpoints_present_and_small():
    files = [pretrained_dir() / f"{n}.pt" for n in PRETRAINED]
    missing = [str(f) for f in files if not f.is_file()]
    assert not missing, f"shipped checkpoints missing from the package: {missing}"
    assert sum(f.stat().st_size for f in files) <= 30 * 2**20

def test_demo_end_to_end(tmp_path):
    exe = shutil.which("scaleattn")
    assert exe, "the scaleattn console script is not on PATH: install the package"
    out = tmp_path / "report"
    r = subprocess.run([exe, "demo", "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"report: {(out / 'index.html').resolve()}" in r.stdout
    res = json.loads((out / "results.json").read_text())
    rows = res["rows"]
    assert {row["model"] for row in rows} == set(PRETRAINED)
    assert all(0 <= row["miou"] <= 1 for row in rows)
    key = {(row["model"], tuple(row["scales"]), row["merge"]) for row in rows}
    assert ("camvid-hierarchical", (0.25, 0.5, 1.0, 2.0), "attention") in key
    assert ("camvid-explicit", (0.5, 0.75, 1.0), "attention") in key
    assert ("camvid-explicit", (0.5, 1.0, 2.0), "attention") not in key      # its softmax head only knows its own scales
    html = (out / "index.html").read_text()
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) >= 3 * 4 + 3 and all(p in html for p in pngs)
    # the table printed on stdout holds the same numbers as results.json
    h = next(row for row in rows if row["model"] == "camvid-hierarchical" and row["scales"] == [0.5, 1.0, 2.0] and row["merge"] == "attention")
    assert f"{100 * h['miou']:.1f}" in r.stdout

def test_demo_bad_checkpoint(tmp_path):
    r = subprocess.run([shutil.which("scaleattn"), "demo", "--out", str(tmp_path / "x"), "--checkpoints", "camvid-nope"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "camvid-nope" in r.stderr
