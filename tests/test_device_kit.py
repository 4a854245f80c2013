"""The GPU kit on the CPU: `tools/device/pack` on a fixture (size limit enforced, the pack readable by the CamVid reader,
fp16 weights loadable), and `tools/device/suite` end to end on the bundled sample with a small budget, so the first GPU
call is not the first time the script runs."""
import base64, hashlib, importlib.machinery, importlib.util, json, os, subprocess, sys, time, zipfile
from pathlib import Path
import pytest, torch

REPO = Path(__file__).resolve().parents[1]
PACK, SUITE, VERIFY, KEEP = (REPO / "tools" / "device" / t for t in ("pack", "suite", "verify", "keep"))
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
           PYTHONUNBUFFERED="1", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))


def _load_script(path: Path, name: str):
    "Import an extension-less script as a module."
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(name, loader)
    mod = importlib.util.module_from_spec(spec); loader.exec_module(mod)
    return mod


def make_wheel(folder: Path, name: str = "devkit_probe", version: str = "0.1") -> Path:
    "A minimal pure-Python wheel (one module), so the suite's offline install runs without a registry."
    folder.mkdir(parents=True, exist_ok=True)
    di = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": "VALUE = 42\n__version__ = '0.1'\n",
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
    enc = create_model("single", classes=3).trunk.encoder.state_dict()
    sd = {k: (v.float() if v.is_floating_point() else v) for k, v in enc.items()}
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
    import importlib.util
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
    # a missing source is named
    r = subprocess.run([sys.executable, str(PACK), "--out", str(tmp_path / "x"), "--camvid", str(tmp_path / "nope")],
                       capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 1 and str(tmp_path / "nope") in r.stderr, r.stderr
    # under the limit: built, replacing the old pack, readable by the CamVid reader
    r = run()
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
    assert set(s["parts"]) >= {"images", "labels", "weights", "wheels", "manifest"}
    assert m["camvid"]["splits"]["train"]["images"] == 3 and m["camvid"]["quality_vs_source"]["psnr_db_mean"] > 15
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


def _suite(tmp_path, *args, budget: float, timeout: float = 900):
    out = tmp_path / "out"
    t0 = time.time()
    r = subprocess.run([sys.executable, str(SUITE), *args, "--budget-s", str(budget), "--out", str(out), "--data", "sample",
                        "--cpu"], capture_output=True, text=True, env=ENV, timeout=timeout, cwd=tmp_path)
    wall = time.time() - t0
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    res = json.loads((out / "results.json").read_text())
    files = [p for p in out.iterdir()]
    assert len(files) <= 8 and all(p.is_file() for p in files), files
    assert set(res["files"]) == {p.name for p in files}
    # the budget is a contract (not a speed claim): loose bounds on the process and on the suite's own clock
    assert wall <= budget * 1.5 + 60 and res["wall_s"] <= budget * 1.5 + 60, (wall, res["wall_s"])
    return res, out


def _keep(out: Path, **folders) -> subprocess.CompletedProcess:
    "tools/device/keep on a suite's output, with its folders (runs=, records=, models=) under the test's tmp_path; it must succeed."
    args = [a for k, v in folders.items() for a in (f"--{k}", str(v))]
    r = subprocess.run([sys.executable, str(KEEP), str(out), *args], capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def test_suite_cpu_end_to_end(tmp_path, camvid_src):
    _, _, wheels = camvid_src
    res, out = _suite(tmp_path, "smoke,bench,shipped", "--crop", "64", "64", "--iters", "2", "--batch", "2", "--eval-sets", "train",
                      "--eval-images", "1", "--weights", "none", "--wheels", str(wheels), budget=240)
    assert res["format"] == "scaleattn_nb.device-suite/1" and res["plan"] == ["smoke", "bench", "shipped"]
    # carried wheels installed offline and imported from the suite's own folder
    assert res["wheels"]["installed"] == ["devkit_probe-0.1-py3-none-any.whl"]
    assert res["wheels"]["imports"]["devkit_probe"]["ok"] and res["wheels"]["imports"]["devkit_probe"]["from_target"]
    assert res["env"]["torch"] == torch.__version__ and res["env"]["cpu_count"] >= 1
    sm = res["smoke"]
    for part in ("cuda_methods", "feeder", "ddp", "compile"): assert sm[part] == "skipped: no CUDA"
    assert {w["what"] for w in res["skipped"]} >= {"smoke.cuda_methods", "smoke.ddp", "smoke.compile"}
    assert set(sm["cpu_methods"]["methods"]) == {"single", "average", "max", "explicit", "hierarchical"}
    assert all(m["status"] == "ok" for m in sm["cpu_methods"]["methods"].values()), sm["cpu_methods"]
    rows = [r for r in res["bench"]["train"] if r.get("status") == "ok"]
    assert rows and all(r["flops_per_image"] > 0 and r["images_per_s"] > 0 and r["mfu"] is None for r in rows)
    # the two rows the step-time target compares are profiled: ops by their own CPU time, shares summing to at most 1
    prof = {r["name"]: r["profile"] for r in rows if "profile" in r}
    assert set(prof) == {"single", "hierarchical (0.5,1)"}, list(prof)
    for p in prof.values():
        assert p["clock"] == "CPU" and p["ops"] and all(o["op"].startswith("aten::") and o["ms_per_step"] > 0 for o in p["ops"]), p
        assert sum(o["share"] for o in p["ops"]) <= 1 + 1e-9 and p["aten_calls_per_step"] > len(p["ops"])
    assert prof["hierarchical (0.5,1)"]["aten_calls_per_step"] > prof["single"]["aten_calls_per_step"]   # two scales, attention
    assert res["bench"]["loader"] == "not available: this version of scaleattn_nb.bench has no loader_throughput" \
        or isinstance(res["bench"]["loader"], dict)
    # the shipped plan: three models trained, exported in fp16, evaluated with and without flip
    from scaleattn_nb.models import load_model
    models = res["shipped"]["models"]
    assert set(models) == {"camvid-hierarchical", "camvid-single", "camvid-explicit"}
    for name, m in models.items():
        assert m["status"] == "ok", (name, m.get("error"))
        assert [(e["flip"], e["status"]) for e in m["evals"]] == [(False, "ok"), (True, "ok")]
        assert all(0 <= e["miou"] <= 1 for e in m["evals"])
        net = load_model(out / f"{name}.pt")
        assert net.method == m["method"] and next(net.parameters()).dtype == torch.float32
        assert net.checkpoint_extra["trained_on"].startswith("cpu") and "val_miou" in net.checkpoint_extra
        assert list(net.train_scales) == m["train_scales"] and net.config["atrous_rates"] == [6, 12, 18]
    assert models["camvid-explicit"]["config"]["attention_channels"] == 256
    # the three share the time by the step times this call's bench measured, when it measured all three
    ran = {(r["method"], tuple(r["scales"])) for r in res["bench"]["train"] if r.get("status") == "ok"}
    by_bench = all((m["method"], tuple(map(float, m["train_scales"]))) in ran for m in models.values())
    assert res["shipped"]["time_weights_from"] == ("bench step times (this call's bench)" if by_bench else "training FLOPs per image")
    # Chen's learning rate (0.01 kills the encoder's deepest features), the explicit model at a quarter; deep_dead comes back
    assert [models[n]["config"]["lr"] for n in ("camvid-hierarchical", "camvid-single", "camvid-explicit")] == [0.001, 0.001, 0.00025]
    for name, m in models.items():
        assert m["deep_dead"] and m["deep_dead"][-1][0] == 2 and 0 <= m["deep_dead"][-1][1] <= 1, (name, m["deep_dead"])
        assert load_model(out / f"{name}.pt").checkpoint_extra["deep_dead_last"] == m["deep_dead"][-1][1]
    # back on the CPU: tools/device/verify evaluates the returned fp16 files at the settings the run evaluated them at
    r = subprocess.run([sys.executable, str(VERIFY), str(out), "--data", "sample", "--images", "1", "--flip", "--tol", "0.05",
                        "--json", str(tmp_path / "verify.json")], capture_output=True, text=True, env=ENV, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rows = json.loads((tmp_path / "verify.json").read_text())
    assert {(x["model"], x["flip"]) for x in rows} == {(n, f) for n in models for f in (False, True)}
    assert all(x["ok"] and abs(x["here_miou"] - x["gpu_miou"]) <= 0.05 and x["images"] == 1 for x in rows), rows
    # ... and says whether they may be shipped: two iterations on the sample are far below the floor (and evaluated at the
    # training scales only, so hierarchical at {0.5, 1, 2} is "not evaluated")
    assert "ship them in place of the CPU-trained models? NO" in r.stdout, r.stdout[-2000:]
    assert "FAIL hierarchical at {0.5, 1, 2}: not evaluated" in r.stdout and "ok   camvid-single: returned" in r.stdout, r.stdout[-2000:]
    assert res["within_budget"] and {"results.json", "logs.tar.gz"} <= set(res["files"])
    import tarfile
    with tarfile.open(out / "logs.tar.gz") as t: names = t.getnames()
    assert "suite.log" in names and any(n.endswith("metrics.jsonl") for n in names)
    # tools/device/keep keeps each shipped model's training log beside results.json (the curves 30_camvid draws)
    r = _keep(out, runs=tmp_path / "kept", records=tmp_path / "records", models=tmp_path / "models")
    kept = {p.parent.name: p for p in (tmp_path / "kept").glob("*/*/metrics.jsonl")}
    assert set(kept) == set(models), (sorted(kept), r.stdout)
    for name, p in kept.items():
        lines = [json.loads(x) for x in p.read_text().splitlines() if x.strip()]
        assert lines and max(x.get("iteration", 0) for x in lines) == 2, (name, lines[:3])
    # ... and results.json without the machine's folders: the repository's relative, the suite's as $WORK / $SITE / $OUT
    text = (tmp_path / "kept" / res["started"][:10] / "results.json").read_text()
    for machine in (str(REPO), str(out), res["paths"]["work"], "/scaleattn-suite-"): assert machine not in text, machine
    kept_res = json.loads(text)
    assert kept_res["paths"] == dict(repo=".", work="$WORK", out="$OUT")
    assert kept_res["shipped"]["models"]["camvid-single"]["config"]["out"] == "$WORK/runs/camvid-single"
    assert kept_res["wheels"]["imports"]["devkit_probe"]["file"].startswith("$SITE/")
    # verify --ship installs nothing on a NO (exit 1) ...
    dest = ["--checkpoints", str(tmp_path / "ckpt"), "--camvid-runs", str(tmp_path / "camvid_runs"), "--gpu-runs", str(tmp_path / "kept")]
    r = subprocess.run([sys.executable, str(VERIFY), str(out), "--data", "sample", "--images", "1", "--ship", *dest],
                       capture_output=True, text=True, env=ENV, timeout=600)
    assert r.returncode == 1 and "nothing installed, the answer is NO" in r.stderr and not (tmp_path / "ckpt").exists(), r.stderr
    # ... and on a YES (here called directly: two iterations cannot pass the floor) finishes and installs each model, moves the
    # replaced ones' logs and tables to a history folder, puts the run's logs, a time.txt and a table of each new file in place
    v = _load_script(VERIFY, "device_verify")
    runs = tmp_path / "camvid_runs"
    for n in models:
        (runs / n).mkdir(parents=True); (runs / n / "metrics.jsonl").write_text('{"iteration": 1}\n')
        (runs / f"table_{n}.json").write_text('{"old": true}')
    kept_dir = v.kept_folder(res, tmp_path / "kept")
    assert kept_dir == tmp_path / "kept" / res["started"][:10]
    ship = lambda: v.ship_models(out, json.loads((kept_dir / "results.json").read_text()), checkpoints=tmp_path / "ckpt", runs=runs,
                                 kept=kept_dir, dataset="sample", images=1, bn_batches=1, log=lambda *a: None)
    broken = tmp_path / "broken"                  # a file that cannot be finished: nothing moved, nothing installed
    broken.mkdir(); [(broken / f.name).write_bytes(f.read_bytes()) for f in out.glob("camvid-*.pt")]
    (broken / "camvid-single.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(Exception):
        v.ship_models(broken, json.loads((kept_dir / "results.json").read_text()), checkpoints=tmp_path / "ckpt", runs=runs,
                      kept=kept_dir, dataset="sample", images=1, bn_batches=1, log=lambda *a: None)
    assert sorted(x.name for x in runs.iterdir()) == sorted([*models, *(f"table_{n}.json" for n in models)]) and not (tmp_path / "ckpt").exists()
    installed = ship()
    assert sorted(f.name for f in installed) == sorted(f"{n}.pt" for n in models)
    from scaleattn_nb.demo import checkpoint_digest
    history = runs / f"history_before_{res['started'][:10]}"
    for f in installed:
        n, ex = f.stem, load_model(f).checkpoint_extra
        assert ex["val_scales"] == models[n]["train_scales"] and ex["images"] == 1 and ex["iteration"] == 2, ex
        assert ex["device_run"]["date"] == res["started"][:10] and ex["device_run"]["evals"], ex["device_run"]
        assert ex["trained_on"].startswith(f"CPU (torch {torch.__version__})") and ex["train_config"]["out"] == f"runs/{n}"
        text = json.dumps(ex, default=str)
        for machine in (str(REPO), str(out), str(tmp_path), "/scaleattn-suite-"): assert machine not in text, (n, machine)
        assert (history / n / "metrics.jsonl").read_text() == '{"iteration": 1}\n' and (history / f"table_{n}.json").read_text() == '{"old": true}'
        assert (runs / n / "metrics.jsonl").read_bytes() == (kept_dir / n / "metrics.jsonl").read_bytes()
        assert "CPU (torch" in (runs / n / "time.txt").read_text() and "suite: smoke,bench,shipped" in (runs / n / "time.txt").read_text()
        t = json.loads((runs / f"table_{n}.json").read_text())
        assert t["checkpoint"] == checkpoint_digest(f) and t["images"] == 1 and t["rows"], t
    with pytest.raises(FileExistsError, match="history_before_"): ship()       # never over the folder of an earlier round


def test_suite_tiny_budget_skips(tmp_path):
    "With too little time the trainings are skipped, saying why, and the suite still ends in time with exit status 0."
    # each training subprocess is said to need 60 s to start: none fits in 25 s, whatever the machine's speed
    res, out = _suite(tmp_path, "shipped", "--crop", "64", "64", "--iters", "2", "--weights", "none", "--wheels", str(tmp_path / "none"),
                      "--startup-s", "60", budget=25)
    why = {w["what"]: w["why"] for w in res["skipped"]}
    if "shipped" in why: assert "of the budget left" in why["shipped"]          # a very slow start leaves no time at all
    else:
        models = res["shipped"]["models"]
        assert set(models) == {"camvid-hierarchical", "camvid-single", "camvid-explicit"}
        for name, m in models.items():
            assert m["status"].startswith("skipped: ") and "left for it" in m["status"], m
            assert why[f"shipped.models.{name}"] == m["status"]
    assert not list(out.glob("*.pt")) and res["within_budget"]


@pytest.mark.skipif("budget" not in __import__("scaleattn_nb.train", fromlist=["TrainConfig"]).TrainConfig.__dataclass_fields__,
                    reason="TrainConfig has no budget field yet")
def test_suite_budget_training(tmp_path):
    "Training by time budget (TrainConfig.budget): the schedule is planned by the loop and the run ends inside its share."
    res, out = _suite(tmp_path, "shipped", "--methods", "single", "--crop", "64", "64", "--batch", "2", "--eval-sets", "train",
                      "--eval-images", "1", "--no-eval-flip", "--weights", "none", "--min-train-s", "5", "--startup-s", "15",
                      "--val-every", "1000", budget=75)
    m = res["shipped"]["models"]["camvid-single"]
    assert m["status"] == "ok", m.get("error")
    assert m["schedule"].startswith("TrainConfig.budget") and m["config"]["budget"] > 0
    assert m["train_wall_s"] <= m["config"]["budget"] * 60 * 1.5 + 20
    assert 0 < m["step_s"] < m["train_wall_s"]                     # the loop's measured step, for --parallel's sharing figure


def test_suite_shipped_parallel(tmp_path):
    """--parallel: the shipped models train at the same time, each with the whole time left, and all three come back
    (records in SHIPPED's order, exports written)."""
    res, out = _suite(tmp_path, "shipped", "--parallel", "--no-ddp", "--no-compile", "--crop", "64", "64", "--iters", "2",
                      "--batch", "2", "--eval-sets", "train", "--eval-images", "1", "--weights", "none", "--wheels",
                      str(tmp_path / "none"), budget=300)
    sh = res["shipped"]
    assert sh["parallel"] is True and sh["status"] == "ok", sh
    assert list(sh["models"]) == ["camvid-hierarchical", "camvid-single", "camvid-explicit"]
    ms = list(sh["models"].values())
    assert max(m["started_s"] for m in ms) < min(m["started_s"] + m["worker_wall_s"] for m in ms)    # they ran together
    assert max(m["share_s"] for m in ms) - min(m["share_s"] for m in ms) < 5                       # each had the whole time
    assert all((out / f"{n}.pt").is_file() for n in sh["models"])


def test_suite_costs_from(tmp_path):
    """--costs-from: the shipped models' time split by a kept run's bench step times; a file that is not a suite's results
    with a bench is refused before anything runs."""
    suite = _load_script(SUITE, "suite_costs")
    res = dict(bench=dict(train=[dict(method="single", scales=[1.0], status="ok", step_s=0.031),
                                 dict(method="hierarchical", scales=[0.5, 1.0], status="ok", step_s=0.075),
                                 dict(method="average", scales=[0.5, 1.0, 2.0], status="skipped: out of time")]))
    assert suite.step_costs(res) == {("single", (1.0,)): 0.031, ("hierarchical", (0.5, 1.0)): 0.075}
    res["bench"].update(batch=16, loader=dict(none=dict(images_per_s=100.0), device=dict(images_per_s=800.0)))   # + a batch's feed
    assert suite.step_costs(res) == pytest.approx({("single", (1.0,)): 0.051, ("hierarchical", (0.5, 1.0)): 0.095})
    assert suite.step_costs(dict(bench="skipped: 3 s left")) == {} and suite.step_costs({}) == {}
    (tmp_path / "r.json").write_text(json.dumps(dict(smoke={})))
    for bad in (tmp_path / "r.json", tmp_path / "missing.json"):
        r = subprocess.run([sys.executable, str(SUITE), "shipped", "--costs-from", str(bad), "--out", str(tmp_path / "o")],
                           capture_output=True, text=True, env=ENV, timeout=120)
        assert r.returncode == 2 and "--costs-from" in r.stderr and not (tmp_path / "o").exists(), r.stderr


def test_suite_sharing():
    """--parallel's sharing figure: each model's training step over its step alone (bench step + a batch's feed), from this
    call's bench, else --costs-from; without either it says so."""
    from types import SimpleNamespace
    suite = _load_script(SUITE, "suite_sharing")
    kept = dict(bench=dict(batch=16, loader=dict(device=dict(images_per_s=800.0)),
                           train=[dict(method="single", scales=[1.0], status="ok", step_s=0.030),
                                  dict(method="hierarchical", scales=[0.5, 1.0], status="ok", step_s=0.080)]))
    models = {"camvid-hierarchical": dict(method="hierarchical", train_scales=[0.5, 1.0], step_s=0.15),
              "camvid-single": dict(method="single", train_scales=[1.0], step_s=0.10),
              "camvid-explicit": dict(method="explicit", train_scales=[0.5, 0.75, 1.0], step_s=0.2)}    # no bench row: left out
    ctx = SimpleNamespace(args=SimpleNamespace(costs_results=kept, costs_from="kept.json"), results={})
    sh = suite.sharing(ctx, models)
    assert sh["models"]["camvid-hierarchical"]["slowdown"] == 1.5 and sh["models"]["camvid-single"]["slowdown"] == 2.0
    assert "camvid-explicit" not in sh["models"] and sh["slowdown"] == 1.75 and sh["together"] == 3 and sh["alone_from"] == "kept.json"
    ctx.results = dict(bench=dict(train=[dict(method="single", scales=[1.0], status="ok", step_s=0.05)]))   # this call's bench first
    assert suite.sharing(ctx, models)["models"] == {"camvid-single": dict(step_s=0.1, alone_s=0.05, slowdown=2.0)}
    ctx.results, ctx.args.costs_results = {}, None
    assert "no bench step times" in suite.sharing(ctx, models)["status"]


def test_suite_lr_scale():
    "--lr-scale multiplies every shipped model's learning rate, keeping the explicit model at a quarter of the others'."
    from types import SimpleNamespace
    suite = _load_script(SUITE, "suite_lr")
    for scale, want in ((1.0, (0.001, 0.00025)), (4.0, (0.004, 0.001))):
        ctx = SimpleNamespace(args=suite.parse_args(["shipped", "--lr-scale", str(scale)]), cuda=True, work=Path("/nonexistent"),
                              data=dict(dataset="camvid", root="r", weights="w"))
        lrs = {n: suite.shipped_config(ctx, n, m, sc, ex)["lr"] for n, m, sc, ex in suite.SHIPPED}
        assert lrs == pytest.approx({"camvid-hierarchical": want[0], "camvid-single": want[0], "camvid-explicit": want[1]})
    with pytest.raises(SystemExit): suite.parse_args(["shipped", "--lr-scale", "0"])


def test_keep_same_day_runs_side_by_side(tmp_path):
    """Two device calls on one day (a session that reruns after fixing something): keep puts the second beside the
    first (DATE-2) instead of over it; keeping the same run again rewrites its own folder; a --date that is no date fails."""
    keep = _load_script(KEEP, "keep_mod")
    runs, outs = tmp_path / "runs", []
    for i in range(2):
        o = tmp_path / f"out{i}"; o.mkdir(); outs.append(o)
        (o / "results.json").write_text(json.dumps(dict(format="scaleattn_nb.device-suite/1", started="2026-12-04T01:50:03+0000", call=i)))
    quiet = lambda *a: None
    first = keep.keep(outs[0], runs, tmp_path / "rec", log=quiet)["results"]
    second = keep.keep(outs[1], runs, tmp_path / "rec", log=quiet)["results"]
    again = keep.keep(outs[1], runs, tmp_path / "rec", log=quiet)["results"]
    assert Path(first).parent.name == "2026-12-04" and Path(second).parent.name == "2026-12-04-2" and again == second
    assert [json.loads(Path(f).read_text())["call"] for f in (first, second)] == [0, 1]
    assert sorted(d.name for d in runs.iterdir()) == ["2026-12-04", "2026-12-04-2"]
    with pytest.raises(ValueError, match="YYYY-MM-DD"): keep.keep(outs[0], runs, tmp_path / "rec", date="today", log=quiet)


def test_keep_portable_results():
    """results.json as kept: an older run's (no `paths` record: its work folder found by the suite's temporary name) device
    paths become repository-relative, $WORK, $SITE and $OUT, in every string (argv, tracebacks); other paths stay."""
    keep = _load_script(KEEP, "keep_mod")
    res = dict(format="scaleattn_nb.device-suite/1", argv=["shipped", "--out", "/root/out"],
               wheels=dict(repo="/work/main", target="/tmp/scaleattn-suite-site-ab_12", wheels_dir="/work/main/.device/wheels"),
               data=dict(root="/work/main/.device/camvid"), env=dict(scaleattn_nb_path="/work/main/scaleattn_nb/__init__.py"),
               shipped=dict(log="/tmp/scaleattn-suite-x1y2/runs/camvid-single/metrics.jsonl",
                            traceback='File "/work/main/tools/device/suite", line 3\n  File "/usr/lib/python3.12/json.py"',
                            argv=["--out", "/tmp/scaleattn-suite-x1y2/ddp-train", "/work/mainly/other"], n=3))
    p = keep.portable_results(res)
    assert p["argv"] == ["shipped", "--out", "$OUT"] and p["wheels"] == dict(repo=".", target="$SITE", wheels_dir=".device/wheels")
    assert p["data"]["root"] == ".device/camvid" and p["env"]["scaleattn_nb_path"] == "scaleattn_nb/__init__.py"
    assert p["shipped"] == dict(log="$WORK/runs/camvid-single/metrics.jsonl", n=3,
                                traceback='File "tools/device/suite", line 3\n  File "/usr/lib/python3.12/json.py"',
                                argv=["--out", "$WORK/ddp-train", "/work/mainly/other"])
    assert res["data"]["root"] == "/work/main/.device/camvid"        # the run's own record is left as it was
    # a run that records its folders: the resolved --out and the one its argv typed (a link) are both $OUT
    res2 = dict(res, argv=["shipped", "--out", "/root/out"], paths=dict(repo="/work/main", work="/scratch/w", out="/data/out"),
                shipped=dict(log="/scratch/w/runs/x.log", files=["/data/out/results.json", "/root/out/results.json"]))
    p2 = keep.portable_results(res2)
    assert p2["paths"] == dict(repo=".", work="$WORK", out="$OUT") and p2["argv"] == ["shipped", "--out", "$OUT"]
    assert p2["shipped"] == dict(log="$WORK/runs/x.log", files=["$OUT/results.json", "$OUT/results.json"])


def test_suite_grids_keep_and_skip(tmp_path):
    """The GPU grids across calls: a run trains what it can at the grid's length; tools/device/keep puts the finished
    experiments' records where issue 18 commits them; the next call skips those, without starting a worker."""
    args = ("grids", "--grid-only", "single-mobilenet_v2-seed0", "--crop", "64", "64", "--iters", "2", "--batch", "2",
            "--weights", "none", "--wheels", str(tmp_path / "none"), "--startup-s", "5")
    res, out = _suite(tmp_path, *args, "--grid-records", "", budget=200)
    g = res["grids"]
    assert g["status"] == "ok" and g["length"] == "iters", g
    e = g["grids"]["tao2020"]["experiments"]["single-mobilenet_v2-seed0"]
    assert e["status"] == "ok" and e["iterations"] == 2 and e["rows"] and all(r["status"] == "done" for r in e["rows"]), e
    assert "measured on" in g["estimate"]["source"]       # what comes next is planned from the run's own speed
    # the name is an experiment of both grids, with the same training config: trained once, reused with Chen's evaluations
    assert g["grids"]["chen2016"]["experiments"]["single-mobilenet_v2-seed0"]["status"].startswith("reused: trained in tao2020")
    records, runs = tmp_path / "records", tmp_path / "runs"
    _keep(out, runs=runs, records=records)
    kept = json.loads((runs / res["started"][:10] / "results.json").read_text())
    assert kept == _load_script(KEEP, "keep_mod").portable_results(res), [k for k in kept if kept[k] != res[k]]
    assert str(out) not in json.dumps(kept) and res["paths"]["work"] not in json.dumps(kept)
    for grid in ("tao2020", "chen2016"):
        d = records / f"{grid}-gpu"
        rec = json.loads((d / "single-mobilenet_v2-seed0" / "grid_result.json").read_text())
        assert rec["status"] == "done" and rec["config"]["out"] == "single-mobilenet_v2-seed0" and (d / "results.csv").is_file()
        assert len(rec["evals"]) == {"tao2020": 3, "chen2016": 1}[grid]          # each grid's own evaluations
        assert json.loads((d / "grid.json").read_text())["experiments"] and "out" not in json.loads((d / "grid.json").read_text())["base"]
    (tmp_path / "again").mkdir()
    res2, _ = _suite(tmp_path / "again", *args, "--grid-records", str(records), budget=120)
    for grid in ("tao2020", "chen2016"):
        g2 = res2["grids"]["grids"][grid]
        assert g2["seeded"] == ["single-mobilenet_v2-seed0"]
        assert g2["experiments"]["single-mobilenet_v2-seed0"] == {"status": "done earlier (committed records)"}, g2
    assert res2["grids"]["status"] == "ok"
    # bad input: a folder that is not a suite's output
    r = subprocess.run([sys.executable, str(KEEP), str(tmp_path)], capture_output=True, text=True, env=ENV, timeout=120)
    assert r.returncode == 2 and "no device suite results" in r.stderr, r.stderr


def test_suite_grids_figure_model(tmp_path):
    """A figure experiment of a grid (Tao's hierarchical seed 0, whose model draws their Fig. 3) comes back as an fp16 export,
    and keep puts it where 32_tao2020's figure cell looks (runs/<grid>-gpu/<experiment>/last.pt), loadable."""
    from scaleattn_nb.models import load_model
    name = "hierarchical-s0.5_1-mobilenet_v2-seed0"
    res, out = _suite(tmp_path, "grids", "--grid-only", name, "--crop", "64", "64", "--iters", "2", "--batch", "2",
                      "--weights", "none", "--wheels", str(tmp_path / "none"), "--startup-s", "5", "--grid-records", "", budget=300)
    e = res["grids"]["grids"]["tao2020"]["experiments"][name]
    assert e["status"] == "ok" and e["figure_model"]["file"] == f"figure--tao2020--{name}.pt", e
    assert (out / e["figure_model"]["file"]).is_file() and e["figure_model"]["file"] in res["files"]
    _keep(out, runs=tmp_path / "runs", records=tmp_path / "records", models=tmp_path / "models")
    m = load_model(tmp_path / "models" / "tao2020-gpu" / name / "last.pt")
    assert m.method == "hierarchical" and tuple(m.train_scales) == (0.5, 1.0)
    assert (tmp_path / "records" / "tao2020-gpu" / name / "grid_result.json").is_file()
    # every figure experiment is one of its grid's (a renamed experiment would silently leave a figure without a model)
    import types
    suite = _load_script(SUITE, "suite_figures")
    ctx = types.SimpleNamespace(data=dict(dataset="camvid", root="x", weights=None), args=types.SimpleNamespace(crop=None, batch=None), cuda=True)
    names = {g: {e.name for e in exps} for g, _, exps in suite.gpu_grids(ctx)}
    assert all(set(fm) <= names[g] for g, fm in suite.FIGURE_MODELS.items()), suite.FIGURE_MODELS
    # and the notebooks' GPU figure cells draw from those models, in the suite's order of preference
    nbs = dict(tao2020="32_tao2020", chen2016="31_chen2016")
    for g, fm in suite.FIGURE_MODELS.items():
        cells = ["".join(c["source"]) for c in json.loads((REPO / "nbs" / f"{nbs[g]}.ipynb").read_text())["cells"]]
        gpu = [c for c in cells if c.lstrip().startswith("run_scale_figure(OUT_GPU") or "\nrun_scale_figure(OUT_GPU" in c]
        assert len(gpu) == 1 and all(f'"{n}"' in gpu[0] for n in fm), (g, gpu)
        assert [gpu[0].index(f'"{n}"') for n in fm] == sorted(gpu[0].index(f'"{n}"') for n in fm), gpu[0]


def test_suite_grids_workers(tmp_path):
    """--grid-workers 2: two experiments train at the same time (the second starts while the first runs); the other grid's
    twins wait for them and are reused, not trained again; each was planned as sharing the GPU, and the speed measured on a
    finished one is counted back to alone by the sharing it had."""
    names = ["single-mobilenet_v2-seed0", "single-mobilenet_v2-seed1"]
    res, out = _suite(tmp_path, "grids", "--grid-only", *names, "--grid-workers", "2", "--crop", "64", "64", "--iters", "2",
                      "--batch", "2", "--weights", "none", "--wheels", str(tmp_path / "none"), "--startup-s", "5",
                      "--grid-records", "", budget=300)
    g = res["grids"]
    assert g["status"] == "ok" and g["workers"] == 2, g
    tao = g["grids"]["tao2020"]["experiments"]
    assert all(tao[n]["status"] == "ok" for n in names), tao
    a, b = (tao[n] for n in names)
    assert a["beside"] == 0 and b["beside"] == 1 and b["started_s"] < a["started_s"] + a["worker_wall_s"], (a, b)   # together
    assert all(g["grids"]["chen2016"]["experiments"][n]["status"].startswith("reused: trained in tao2020") for n in names), g
    assert a["sharing"] == 2.0 and a["together"] > 1 and b["together"] > 1, (a, b)   # planned as sharing, measured sharing
    assert g["estimate"]["slowdown"] == 2.0 and "measured on" in g["estimate"]["source"] and "counted as" in g["estimate"]["source"], g["estimate"]
    suite = _load_script(SUITE, "suite_workers")
    for bad in (["--grid-workers", "0"], ["--grid-slowdown", "0"]):
        with pytest.raises(SystemExit): suite.parse_args(["grids", *bad])


def test_grid_sharing_model():
    """The grids' planning model of sharing the GPU: 1 alone, --grid-slowdown with every worker busy, linear between; and how
    many trainings a finished run had beside it on average (its measured speed is counted back to alone by it)."""
    suite = _load_script(SUITE, "suite_sharing_model")
    f = suite.sharing_factor
    assert f(1, 3, 1.6) == 1.0 and f(3, 3, 1.6) == pytest.approx(1.6) and f(2, 3, 1.6) == pytest.approx(1.3)
    assert f(5, 3, 1.6) == pytest.approx(1.6) and f(3, 1, 1.6) == 1.0 and f(2.5, 3, 3.0) == pytest.approx(2.5)
    mt = suite.mean_together
    assert mt((0, 10), []) == 1.0 and mt((10, 20), [(0, 5), (20, 30)]) == 1.0
    assert mt((0, 10), [(5, 20), (0, None)]) == pytest.approx(1 + (5 + 10) / 10)   # None: still running at the span's end


def test_feeder_census_cpu():
    """The smoke check's feeder figures, run on the CPU: batches of the cached feeder over the bundled sample are timed (the
    sync census itself needs CUDA's debug mode and is None here)."""
    suite = _load_script(SUITE, "suite_feeder")
    r = suite.feeder_syncs(dict(dataset="sample", root=None), "cpu")
    assert r["status"] == "ok", r.get("error")
    assert r["batch"] == 12 and r["cache"] == "ram" and r["ms_per_batch"] > 0 and r["host_syncs"] is None
    # where a batch's time goes: the aten ops of 3 more batches, on the CPU by their own CPU time
    pf = r["profile"]
    assert pf["steps"] == 3 and pf["clock"] == "CPU" and pf["total_ms_per_step"] > 0 and pf["aten_calls_per_step"] > 12, pf
    assert 0 < len(pf["ops"]) <= 8 and any(o["op"] in ("aten::upsample_bilinear2d", "aten::_upsample_bilinear2d_aa") for o in pf["ops"]), pf["ops"]
    r = suite.feeder_syncs(dict(dataset="camvid", root="/nonexistent"), "cpu")
    assert r["status"] == "failed" and r["error"]


def test_compile_runs():
    """--compile-method's runs (METHOD or METHOD:MODE), read before any device time is spent: one call can compare modes,
    and a misspelt method or mode stops the suite at its arguments."""
    from scaleattn_nb.models import METHODS
    from scaleattn_nb.train import COMPILE_MODES
    suite = _load_script(SUITE, "suite_compile_runs")
    assert tuple(suite.SMOKE_METHODS) == tuple(METHODS) and suite.COMPILE_MODES == COMPILE_MODES
    assert suite.compile_runs("single, hierarchical:reduce-overhead", "default") == [("single", "default"), ("hierarchical", "reduce-overhead")]
    assert suite.compile_runs("hierarchical", "max-autotune") == [("hierarchical", "max-autotune")]
    for bad in ("hierarchial", "single:fast", " , "):
        with pytest.raises(ValueError): suite.compile_runs(bad, "default")
    for bad in (["--compile-method", "hierarchial"], ["--compile-mode", "fast"], ["--train-compile-mode", "fast"]):
        with pytest.raises(SystemExit): suite.parse_args(["smoke", *bad])


def test_suite_compile_worker_cpu(tmp_path):
    """The smoke check's torch.compile worker, which no GPU call has run yet, run on the CPU as the suite starts it: the same
    code path with dynamo and AOT autograd (`aot_eager`) in place of inductor's code generation. Its eager figure is
    written before the compile, so a compile that times out still leaves it."""
    suite = _load_script(SUITE, "device_suite")
    part = tmp_path / "w" / "compile.partial.json"
    r = suite.run_worker("compile", dict(method="hierarchical", batch=2, size=[64, 64], steps=1, partial=str(part), mode="default",
                                         device="cpu", backend="aot_eager"), tmp_path / "w", timeout=600)
    assert r.get("status") == "ok", r.get("error")
    assert (r["method"], r["mode"], r["device"], r["backend"], r["size"]) == ("hierarchical", "default", "cpu", "aot_eager", [64, 64])
    assert r["eager_step_s"] > 0 and r["compiled_step_s"] > 0 and r["compile_s"] > 0
    assert r["speedup"] == pytest.approx(r["eager_step_s"] / r["compiled_step_s"])
    assert json.loads(part.read_text())["eager_step_s"] == r["eager_step_s"] and "compiled_step_s" not in json.loads(part.read_text())


def test_suite_ddp_worker_gloo(tmp_path):
    "The smoke check's torchrun worker, run on the CPU with gloo instead of NCCL: the same code path up to the backend."
    suite = _load_script(SUITE, "device_suite")
    r = suite.run_worker("ddp", dict(out=str(tmp_path / "train"), batch=2, size=[64, 64], device="cpu"), tmp_path / "w",
                         timeout=600, torchrun=True)
    assert r.get("status") == "ok", r.get("error")
    assert r["backend"] == "gloo" and r["all_reduce"] == [1.0] * 4 and len(r["ddp_losses"]) == 2
    assert r["env"]["WORLD_SIZE"] == "1" and r["train_ok"] and (tmp_path / "train" / "last.pt").is_file()


def test_suite_worker_killed_at_its_limit(tmp_path):
    "A torchrun worker past its time limit is killed with torchrun: torchrun puts its worker in a session of its own."
    suite = _load_script(SUITE, "device_suite")
    work = tmp_path / "w"
    # a worker that outlives the limit on any machine: two DDP steps and a training run at 512x512 take tens of seconds on a
    # CPU (at 64x64 a fast machine finished inside the 6 s, and the test then checked nothing)
    r = suite.run_worker("ddp", dict(out=str(tmp_path / "train"), batch=4, size=[512, 512], device="cpu"), work, timeout=6, torchrun=True)
    assert r["timed_out"] and "killed at its time limit" in r["error"]
    time.sleep(1)
    left = subprocess.run(["pgrep", "-f", str(work / "ddp.spec.json")], capture_output=True, text=True).stdout.split()
    assert not left, f"worker processes still running after the limit: {left}"
    assert not (work / "ddp.result.json.pid").exists()


def test_suite_flops_pool(tmp_path):
    "The FLOP counts the bench needs, counted in a spawned process beside the smoke check, equal the ones counted in place."
    res, _ = _suite(tmp_path, "bench", "--crop", "64", "64", "--flops-workers", "1", "--bench-steps", "1", "--weights", "none",
                    budget=200)
    assert res["flops_counts"]["workers"] == 1 and res["flops_counts"]["pool"] >= 3, res["flops_counts"]
    rows = {r["name"]: r for r in res["bench"]["train"]}
    assert [r["name"] for r in res["bench"]["train"]][:3] == ["single", "hierarchical (0.5,1)", "explicit {0.5,1,2}"]   # the targets' rows first
    suite = _load_script(SUITE, "device_suite")
    test = rows["hierarchical (0.5,1)"]
    assert test["flops_per_image"] == suite._flops_per_image("hierarchical", (0.5, 1.0), (64, 64), {})


def test_verify_ship_check(tmp_path):
    "verify's shipping decision (issue 17's floor) from a run's figures: each check can fail on its own."
    v = _load_script(VERIFY, "device_verify")
    from scaleattn_nb.models import PRETRAINED
    ev = lambda scales, miou, merge="attention", flip=False: dict(status="ok", scales=list(scales), merge=merge, flip=flip, miou=miou)
    def run(h3=0.65, s1=0.60, dead=0.01, finished=True, mb=9.0, old_explicit=0.62):
        models = {}
        for n in PRETRAINED:
            evals = {"camvid-hierarchical": [ev((0.5, 1.0), 0.66), ev((0.5, 1.0, 2.0), h3)],
                     "camvid-single": [ev((1.0,), s1), ev((0.5, 1.0, 2.0), 0.59, "average")],
                     "camvid-explicit": [ev((0.5, 0.75, 1.0), 0.63)]}[n]
            models[n] = dict(status="ok", evals=evals, deep_dead=[[10, 0.2], [900, dead]],
                             train=dict(finished=finished, iterations=900, planned=900, epochs=39.1))
            (tmp_path / f"{n}.pt").write_bytes(b"\0" * int(mb * 1e6))
        shipped = {"camvid-hierarchical": ((0.5, 1.0), 0.57), "camvid-single": ((1.0,), 0.54),
                   "camvid-explicit": ((1.0, 0.75, 0.5), old_explicit)}    # the order of a scale set does not matter
        return v.ship_check(dict(shipped=dict(models=models)), tmp_path, shipped=shipped)
    ok, lines = run()
    assert ok and len(lines) == 12 and all(l.startswith("  ok") for l in lines), lines
    assert any("camvid-explicit: at {1, 0.75, 0.5} 0.6300, the shipped model 0.6200 (+1.0 points" in l for l in lines), lines
    assert run(old_explicit=0.639)[0]                                    # within the 0.01 tolerance
    assert any("0.6500 (floor 0.62, +3.0 points)" in l for l in lines), lines
    for kw, why in [(dict(h3=0.60), "floor 0.62, -2.0 points"), (dict(h3=0.63, s1=0.64), "above single at {1} 0.6400"),
                    (dict(dead=0.9), "deepest layer 90.0% constant"), (dict(finished=False), "schedule NOT finished"),
                    (dict(mb=10.5), "31.50 MB together"), (dict(old_explicit=0.65), "the shipped model 0.6500 (-2.0 points")]:
        ok, lines = run(**kw)
        assert not ok and any(l.startswith("  FAIL") and why in l for l in lines), (kw, lines)
    (tmp_path / "camvid-explicit.pt").unlink()
    ok, lines = v.ship_check(dict(shipped=dict(models={})), tmp_path, shipped={"camvid-single": ((1.0,), 0.54)})
    assert not ok and any("camvid-explicit: NOT returned" in l for l in lines) and any("not evaluated" in l for l in lines)


def test_mirror_pins_and_dry_run(tmp_path, capsys):
    """tools/device/mirror: the device's versions from the newest kept run that records them, as pip pins without the local
    build label (torch 2.11.0+cu130 -> torch==2.11.0); --dry-run prints the commands and builds nothing; bad input exits 2."""
    mirror = _load_script(REPO / "tools" / "device" / "mirror", "device_mirror")
    env = {"python": "3.12.3", "torch": "2.11.0+cu130",
           "versions": {"torchvision": "0.26.0+cu130", "PIL": "12.3.0", "scaleattn_nb": "0.1.0", "timm": None}}
    assert mirror.pins(env) == ["torchvision==0.26.0", "pillow==12.3.0", "torch==2.11.0"]
    runs = tmp_path / "runs"
    for day, e in [("2026-12-04", dict(env, torch="2.10.0")), ("2026-12-04-2", env), ("2026-12-10", None)]:
        (runs / day).mkdir(parents=True); (runs / day / "results.json").write_text(json.dumps({"env": e}))
    newest = mirror.newest_results(runs)                   # 2026-12-10 records no versions: the day's second run is taken
    assert newest.parent.name == "2026-12-04-2" and "torch==2.11.0" in mirror.pins(mirror.device_env(newest))
    kept = mirror.device_env(mirror.newest_results())      # the repository's own kept runs
    assert f"torch=={kept['torch'].split('+')[0]}" in mirror.pins(kept)
    venv = tmp_path / "venv"
    assert mirror.main([str(venv), "--from", str(newest), "--python", sys.executable, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert not venv.exists() and "torch==2.11.0" in out and f"-e {REPO}[dev]" in out and f"{sys.executable} -m venv" in out, out
    assert mirror.main([str(venv), "--from", str(REPO / "README.md"), "--dry-run"]) == 2
    assert "not a suite run's results.json" in capsys.readouterr().err


def test_keep_verify_without_torch(tmp_path):
    "Run by a Python that lacks torch, keep and verify say which environment they need (exit 2), not a bare traceback."
    fake = tmp_path / "fake" / "torch"; fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n")
    env = dict(ENV, PYTHONPATH=str(tmp_path / "fake"))
    for tool in (KEEP, VERIFY):
        r = subprocess.run([sys.executable, str(tool), str(tmp_path)], env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 2, (tool.name, r.returncode, r.stderr)
        assert "No module named 'torch'" in r.stderr and "project's environment" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_suite_gpu_grids_match_notebooks():
    """The suite rebuilds the GPU grids of 32_tao2020 and 31_chen2016 (it runs without the notebooks); the records it brings
    back are read by those notebooks and skipped by config hash. Each experiment's training config (its hash: paths left out)
    and evaluations must be the notebook's, or a change made in one place would run a different grid than the one written up."""
    import types
    from scaleattn_nb.grid import Grid, config_hash
    suite = _load_script(SUITE, "suite_grids_match")
    ctx = types.SimpleNamespace(data=dict(dataset="camvid", root="/device/camvid", weights="/device/weights/mobilenet_v2_imagenet.pth"),
                                args=types.SimpleNamespace(crop=None, batch=None), cuda=True)
    described = lambda grid: {e.name: (config_hash(grid.config(e)), [v.to_dict() for v in e.evals]) for e in grid.experiments}
    ours = {g: described(Grid(base, exps)) for g, base, exps in suite.gpu_grids(ctx)}
    cwd = os.getcwd()                              # the shell runs in this process: its chdir to nbs/ is undone below
    try: _check_notebook_grids(ours, described)
    finally: os.chdir(cwd)


def _check_notebook_grids(ours, described):
    from execnb.shell import CaptureShell
    for g, nb in (("tao2020", "32_tao2020"), ("chen2016", "31_chen2016")):
        cells = json.loads((REPO / "nbs" / f"{nb}.ipynb").read_text())["cells"]
        last = next(i for i, c in enumerate(cells) if "gpu_grid = Grid(" in "".join(c["source"]))
        sh = CaptureShell()
        sh.run(f"import os; os.chdir({str(REPO / 'nbs')!r})")
        for c in cells[:last + 1]:                 # the definition cells, as nbdev_test runs them (flagged cells skipped)
            src = "".join(c["source"])
            if c["cell_type"] != "code" or any(l.startswith("#|") and ({"slow", "gpu", "notest"} & set(l[2:].split())) for l in src.splitlines()):
                continue
            sh.run(src)
            assert not sh.exc, (nb, src[:200], sh.exc)
        grid = sh.user_ns["gpu_grid"]
        theirs = described(grid)
        assert sorted(theirs) == sorted(ours[g]), (g, sorted(set(theirs) ^ set(ours[g])))
        diff = [n for n in theirs if theirs[n] != ours[g][n]]
        assert not diff, (g, "differ from the suite's:", diff[:3], grid.config(next(e for e in grid.experiments if e.name == diff[0])).to_dict())
