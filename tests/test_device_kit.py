"""The GPU kit on the CPU: `tools/device/pack` on a fixture (size limit enforced, the pack readable by the CamVid reader,
fp16 weights loadable), `tools/device/suite` end to end on the bundled sample (the dry run of a GPU call), and
`tools/device/keep` on what it returned, so the first GPU call is not the first time the scripts run."""
import base64, hashlib, importlib.machinery, importlib.util, json, os, shutil, subprocess, sys, tarfile, time, zipfile
from pathlib import Path
import pytest, torch

REPO = Path(__file__).resolve().parents[1]
PACK, SUITE, KEEP = (REPO / "tools" / "device" / t for t in ("pack", "suite", "keep"))
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
           PYTHONUNBUFFERED="1", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
# the shipped recipe shrunk to seconds: 2 iterations of 64x64 crops (ASPP rates that reach every tap there)
DRY = ["--data", "sample", "--weights", "none", "--set", "iters=2", "--set", "crop_size=[64,64]", "--set", "batch_size=2",
       "--set", "workers=0", "--set", "atrous_rates=[1,2,3]"]


def _load_script(path: Path, name: str):
    "Import an extension-less script as a module."
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    mod = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader)); loader.exec_module(mod)
    return mod


def make_wheel(folder: Path, name: str = "devkit_probe", version: str = "0.1") -> Path:
    "A minimal pure-Python wheel (one module), so the suite's offline install runs without a registry."
    folder.mkdir(parents=True, exist_ok=True)
    di = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": "VALUE = 42\n",
             f"{di}/METADATA": f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n",
             f"{di}/WHEEL": "Wheel-Version: 1.0\nGenerator: test_device_kit\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    rec = [f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(t.encode()).digest()).rstrip(b'=').decode()},{len(t.encode())}"
           for p, t in files.items()] + [f"{di}/RECORD,,"]
    files[f"{di}/RECORD"] = "\n".join(rec) + "\n"
    whl = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        for p, t in files.items(): z.writestr(p, t)
    return whl


@pytest.fixture(scope="module")
def camvid_src(tmp_path_factory):
    "A tiny fake CamVid (PNG images and labels) and MobileNetV2 encoder weights in fp32 under the real file name."
    from scaleattn_nb.data import make_fixture
    from scaleattn_nb.models import create_model
    d = tmp_path_factory.mktemp("src")
    root = make_fixture("camvid", d / "camvid", n=3, size=(24, 32))
    sd = {k: (v.float() if v.is_floating_point() else v) for k, v in create_model("single", classes=3).trunk.encoder.state_dict().items()}
    sd["classifier.1.weight"] = torch.randn(10, 1280)                 # the ImageNet head the pack leaves out
    (d / "weights").mkdir(); torch.save(sd, d / "weights" / "mobilenet_v2_imagenet.pth")
    make_wheel(d / "wheels")
    return root, d / "weights" / "mobilenet_v2_imagenet.pth", d / "wheels"


def test_check_fits():
    pack = _load_script(PACK, "device_pack")
    rep = pack.check_fits({"images": 10, "labels": 5}, tree_bytes=100, limit_bytes=200)
    assert rep["total_bytes"] == 115 and rep["headroom_bytes"] == 85
    with pytest.raises(pack.PackTooLarge, match=r"tracked tree .*100 bytes.* \+ pack .*15 bytes.* = .*115 bytes.*over the limit"):
        pack.check_fits({"images": 10, "labels": 5}, tree_bytes=100, limit_bytes=110)


def test_pack_missing_modules(monkeypatch, tmp_path, capsys):
    "pack run by a Python without the project's libraries (PIL here) says so and what to do, and writes nothing."
    pack = _load_script(PACK, "device_pack")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "PIL" else real(name, *a))
    assert pack.main(["--out", str(tmp_path / "p")]) == 1 and not (tmp_path / "p").exists()
    err = capsys.readouterr().err
    assert "PIL cannot be imported" in err and ".venv/bin/activate" in err, err


def test_pack_auto_format(monkeypatch):
    "--image-format auto (the default): JPEG when the pack travels, else WebP; both too large: one error naming both tries."
    pack = _load_script(PACK, "device_pack")
    fits = set()
    def fake_build(out, camvid_src, weights_src, *, image_format, log=print, **kw):
        if image_format not in fits: raise pack.PackTooLarge(f"{image_format} too large")
        return dict(camvid=dict(format=image_format))
    monkeypatch.setattr(pack, "build_pack", fake_build)
    said = []
    fits.update({"jpeg", "webp"})
    assert pack.build_pack_fitting("out", "src", None, log=said.append)["camvid"]["format"] == "jpeg" and not said
    fits.discard("jpeg")
    m = pack.build_pack_fitting("out", "src", None, log=said.append)
    assert m["camvid"]["format"] == "webp" and "jpeg pack did not travel" in m["image_format_note"], m
    assert said == ["the jpeg pack does not travel; trying webp"]
    fits.clear()
    with pytest.raises(pack.PackTooLarge, match=r"(?s)as jpeg: jpeg too large.*as webp: webp too large"):
        pack.build_pack_fitting("out", "src", None, log=said.append)
    with pytest.raises(pack.PackTooLarge, match="jpeg too large"):          # a format asked for is the only one tried
        pack.build_pack_fitting("out", "src", None, image_format="jpeg", log=said.append)


def test_pack_fixture(tmp_path, camvid_src):
    root, weights, wheels = camvid_src
    out = tmp_path / "pack"
    run = lambda *a: subprocess.run([sys.executable, str(PACK), "--out", str(out), "--camvid", str(root), "--weights", str(weights),
                                     "--wheels-from", str(wheels), *a], capture_output=True, text=True, env=ENV, timeout=300)
    # over the limit (the tracked tree alone is ~31 MiB): a clear refusal with the figures; a pack already there is untouched
    out.mkdir(); (out / "MANIFEST.json").write_text("{}"); (out / "keep.txt").write_text("mine")
    r = run("--limit-mib", "2")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "does not travel" in r.stderr and "tracked tree" in r.stderr and "over the limit of 2.00 MiB" in r.stderr, r.stderr
    assert (out / "keep.txt").read_text() == "mine" and not list(tmp_path.glob(".pack.build-*"))
    r = subprocess.run([sys.executable, str(PACK), "--out", str(tmp_path / "x"), "--camvid", str(tmp_path / "nope")],
                       capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 1 and str(tmp_path / "nope") in r.stderr, r.stderr          # a missing source is named
    r = run()                                    # under the limit: built, replacing the old pack, readable by the CamVid reader
    assert r.returncode == 0, r.stdout + r.stderr
    assert not (out / "keep.txt").exists() and "total" in r.stdout
    from scaleattn_nb.data import camvid
    for split in ("train", "val"):
        ds = camvid(out / "camvid", split)
        assert len(ds) == 3 and all(p.suffix == ".jpg" for p, _ in ds.files)
        x, y = ds[0]
        assert x.shape[-2:] == y.shape[-2:] == (24, 32)
        for _, lbl in ds.files:                                       # labels travel byte for byte
            assert lbl.read_bytes() == (root / f"{split}annot" / lbl.name).read_bytes()
    m = json.loads((out / "MANIFEST.json").read_text())
    s = m["sizes"]
    assert s["total_bytes"] == s["tree_bytes"] + s["pack_bytes"] and s["total_bytes"] <= s["limit_bytes"] == 64 * 2**20
    assert set(s["parts"]) >= {"images", "labels", "weights", "wheels", "manifest"} and m["camvid"]["splits"]["train"] == 3
    assert m["wheels"][0]["file"].startswith("devkit_probe") and (out / "wheels" / m["wheels"][0]["file"]).is_file()
    # fp16 weights under the original name: create_model loads them (cast to fp32) and keeps their [-1, 1] normalisation
    from scaleattn_nb.models import create_model, MINUS1_1
    w16 = out / "weights" / "mobilenet_v2_imagenet.pth"
    sd16 = torch.load(w16, weights_only=True)
    assert sd16["features.0.0.weight"].dtype == torch.float16 and not any(k.startswith("classifier.") for k in sd16)
    a, b = create_model("single", classes=3, weights=weights), create_model("single", classes=3, weights=w16)
    assert (b.input_mean, b.input_std) == MINUS1_1
    pa, pb = a.trunk.encoder.state_dict(), b.trunk.encoder.state_dict()
    for k in pa:
        assert pb[k].dtype == pa[k].dtype
        if pa[k].is_floating_point(): torch.testing.assert_close(pb[k], pa[k], rtol=1e-3, atol=1e-3)


def _suite(tmp_path, steps, *args, budget: float, out="out"):
    out, t0 = tmp_path / out, time.time()
    r = subprocess.run([sys.executable, str(SUITE), steps, *args, "--budget-s", str(budget), "--out", str(out)],
                       capture_output=True, text=True, env=dict(ENV, TMPDIR=str(tmp_path)), timeout=budget + 120, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    res = json.loads((out / "results.json").read_text())
    assert sorted(res["files"]) == sorted(p.name for p in out.iterdir()) and len(res["files"]) <= 8
    assert time.time() - t0 <= budget + 60 and res["wall_s"] <= budget, res["wall_s"]       # the budget is kept, not a speed claim
    return res, out


def _keep(out: Path, tmp_path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(KEEP), str(out), "--runs", str(tmp_path / "kept"), "--grid-runs", str(tmp_path / "grids"),
                           *args], capture_output=True, text=True, env=ENV, timeout=900)


def test_suite_cpu_end_to_end(tmp_path, camvid_src):
    "The dry run of a GPU call: every step on the CPU, then keep, keep --check, and a second call that skips the finished models."
    res, out = _suite(tmp_path, "info,ddp,bench,shipped", *DRY, "--wheels", str(camvid_src[2]), budget=900)
    assert res["format"] == "scaleattn_nb.device-suite/2" and list(res["steps"]) == ["info", "ddp", "bench", "shipped"]
    assert all(s["status"] == "ok" for s in res["steps"].values()), res["steps"]
    assert res["wheels"] == ["devkit_probe-0.1-py3-none-any.whl"] and res["env"]["torch"] == torch.__version__
    rows = res["steps"]["bench"]["result"]["train"]
    assert rows and all(r["images_per_s"] > 0 and r["flops"] > 0 and r["mfu"] is None for r in rows)
    assert res["steps"]["bench"]["result"]["crop"] == [64, 64]
    from scaleattn_nb.models import load_model, PRETRAINED
    assert sorted(res["steps"]["shipped"]["exported"]) == sorted(f"{n}.pt" for n in PRETRAINED)
    for n in PRETRAINED:
        net = load_model(out / f"{n}.pt")
        assert net.checkpoint_extra["trained_on"].startswith("CPU") and net.config["atrous_rates"] == [1, 2, 3]
        assert next(net.parameters()).dtype == torch.float32                # fp16 on disk, the model's dtype in memory
    assert load_model(out / "camvid-explicit.pt").config["attention_channels"] == 256
    with tarfile.open(out / "logs.tar.gz") as t: names = t.getnames()
    assert "suite.log" in names and "grids/shipped/camvid-single/grid_result.json" in names, names
    # keep: results.json without the machine's folders, the report 20_bench shows, the shipped models' records
    r = _keep(out, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    dest = tmp_path / "kept" / res["started"][:10]
    text = (dest / "results.json").read_text()
    assert str(REPO) not in text and res["paths"]["work"] not in text and "$WORK" in text
    rep = (dest / "report.md").read_text()
    assert "no GPU" in rep and "| shipped | ok |" in rep and "crop 64x64" in rep and "**shipped**" in rep, rep
    assert all(json.loads((dest / "shipped" / n / "grid_result.json").read_text())["status"] == "done" for n in PRETRAINED)
    # keep --check: the returned files evaluated here agree with the run; two iterations are far from shipping (NO, exit 1)
    r = _keep(out, tmp_path, "--check", "--data", "sample", "--tol", "0.05")
    assert (tmp_path / "kept" / f"{res['started'][:10]}-2").is_dir()           # a second run of the day goes beside the first
    assert r.returncode == 1 and r.stdout.count(" ok") >= 3 and "DIFFERS" not in r.stdout, r.stdout + r.stderr
    assert "ship them in place of the shipped models? NO" in r.stdout and "FAIL hierarchical at {0.5, 1, 2}" in r.stdout
    # a grid file with committed records beside it: `scaleattn grid` skips them, nothing is trained again
    g = tmp_path / "g"; shutil.copytree(dest / "shipped", g); shutil.copy(REPO / "nbs" / "camvid_runs" / "grid.json", g / "grid.json")
    res2, _ = _suite(tmp_path, f"grid:{g / 'grid.json'}", *DRY, budget=300, out="out2")
    assert res2["steps"][f"grid:{g / 'grid.json'}"]["status"] == "ok"
    assert '"status": "skipped"' in (Path(res2["paths"]["work"]) / "logs" / f"grid-{str(g).replace('/', '_')}_grid.json.log").read_text()


def test_suite_step_killed_at_its_limit(tmp_path):
    "A step past its share is stopped with its whole process group: nothing it started keeps running."
    suite = _load_script(SUITE, "device_suite")
    suite.WORK = tmp_path; (tmp_path / "logs").mkdir()
    s = suite.run(["sh", "-c", "sleep 347 & sleep 348"], "sleepy", 2, dict(os.environ))
    assert s["status"] == "stopped at its limit of 2 s" and s["seconds"] < 30, s
    time.sleep(1)
    assert not subprocess.run(["pgrep", "-f", "sleep 34[78]"], capture_output=True, text=True).stdout.split()


def test_suite_bad_arguments(tmp_path):
    for args in (["nope"], ["grid:/no/such.json"], ["info", "--set", "iters"]):
        r = subprocess.run([sys.executable, str(SUITE), *args, "--out", str(tmp_path / "o")], capture_output=True, text=True, env=ENV)
        assert r.returncode == 2 and "error" in r.stderr, (args, r.stderr)
    (tmp_path / "o").mkdir(); (tmp_path / "o" / "x").write_text("")
    r = subprocess.run([sys.executable, str(SUITE), "info", "--out", str(tmp_path / "o")], capture_output=True, text=True, env=ENV)
    assert r.returncode == 2 and "not empty" in r.stderr


def test_keep_ship_check(tmp_path):
    "keep's shipping decision from a run's grid records: each check can fail on its own."
    k = _load_script(KEEP, "device_keep")
    from scaleattn_nb.models import PRETRAINED
    ev = lambda scales, miou, merge="attention": dict(eval=dict(scales=list(scales), merge=merge, flip=False), metrics=dict(miou=miou))
    def run(h3=0.65, s1=0.60, dead=0.01, status="done", mb=9.0, old_explicit=0.62):
        recs = {}
        for n in PRETRAINED:
            evals = {"camvid-hierarchical": [ev((0.5, 1.0), 0.66), ev((0.5, 1.0, 2.0), h3)],
                     "camvid-single": [ev((1.0,), s1), ev((0.5, 1.0, 2.0), 0.59, "average")],
                     "camvid-explicit": [ev((0.5, 0.75, 1.0), 0.63)]}[n]
            recs[n] = dict(status=status, evals=evals, train=dict(deep_dead=dead))
            (tmp_path / f"{n}.pt").write_bytes(b"\0" * int(mb * 1e6))
        shipped = {"camvid-hierarchical": ((0.5, 1.0), 0.57), "camvid-single": ((1.0,), 0.54),
                   "camvid-explicit": ((1.0, 0.75, 0.5), old_explicit)}    # the order of a scale set does not matter
        return k.ship_check(recs, tmp_path, shipped=shipped)
    ok, lines = run()
    assert ok and len(lines) == 12 and all(l.startswith("  ok") for l in lines), lines
    assert run(old_explicit=0.639)[0]                                    # within the 0.01 tolerance
    for kw, why in [(dict(h3=0.60), "floor 0.62"), (dict(h3=0.63, s1=0.64), "above single at {1} 0.6400"),
                    (dict(dead=0.9), "deepest layer 90.0% constant"), (dict(status="failed"), "status failed"),
                    (dict(mb=10.5), "31.50 MB together"), (dict(old_explicit=0.65), "the shipped model 0.6500")]:
        ok, lines = run(**kw)
        assert not ok and any(l.startswith("  FAIL") and why in l for l in lines), (kw, lines)
    (tmp_path / "camvid-explicit.pt").unlink()
    ok, lines = k.ship_check({}, tmp_path, shipped={"camvid-single": ((1.0,), 0.54)})
    assert not ok and any("camvid-explicit: NOT returned" in l for l in lines) and any("not evaluated" in l for l in lines)


def test_keep_without_torch(tmp_path):
    "Run by a Python that lacks torch, keep says which environment it needs (exit 2), not a bare traceback."
    fake = tmp_path / "fake" / "torch"; fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n")
    r = subprocess.run([sys.executable, str(KEEP), str(tmp_path)], env=dict(ENV, PYTHONPATH=str(tmp_path / "fake")),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "No module named 'torch'" in r.stderr and "project's environment" in r.stderr, r.stderr
