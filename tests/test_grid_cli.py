"`scaleattn grid` end to end in a subprocess, then the same grid under torchrun with two CPU ranks (gloo)."
import csv, json, os, shutil, subprocess
from pathlib import Path
import pytest, torch

BASE = dict(dataset="sample", crop_size=[64, 64], batch_size=2, iters=2, workers=0, amp="off", device="cpu")
GRID = dict(base=BASE,
            experiments=[dict(name="single", config=dict(method="single"), evals=[[1.0]]),
                         dict(name="broken", config=dict(method="single", encoder="resnet9000"))],
            products=[dict(methods=["average"], train_scales=[[0.5, 1.0]], seeds=[0],
                           evals=[[0.5, 1.0], dict(scales=[0.5, 1.0], merge="max")])])
AVG = "average-s0.5_1-mobilenet_v2-seed0"

from _cli import scaleattn_exe as _exe

def _statuses(stdout: str) -> dict:
    return {d["name"]: d["status"] for d in map(json.loads, (l for l in stdout.splitlines() if l.startswith("{")))}

def test_grid_cli(tmp_path):
    cfg = tmp_path / "grid.json"; cfg.write_text(json.dumps(GRID)); out = tmp_path / "out"
    run = lambda *a: subprocess.run([_exe(), "grid", "--config", str(cfg), "--out", str(out), "--no-progress", *a],
                                    capture_output=True, text=True, timeout=600)
    r = run("--dry-run")
    assert r.returncode == 0, r.stderr[-3000:]
    assert _statuses(r.stdout) == {"single": "train", "broken": "train", AVG: "train"} and not out.exists()
    r = run()
    assert r.returncode == 1, r.stderr[-3000:]                     # one experiment failed: exit 1, the others ran
    assert _statuses(r.stdout) == {"single": "trained", "broken": "failed", AVG: "trained"}
    assert "unknown encoder" in r.stdout
    with open(out / "results.csv") as f: rows = list(csv.DictReader(f))
    got = {(row["experiment"], row["eval"]): row for row in rows}
    assert set(got) == {("single", "attention@1"), ("broken", ""), (AVG, "attention@0.5-1"), (AVG, "max@0.5-1")}
    for k, row in got.items():
        if k[0] != "broken": assert 0 <= float(row["miou"]) <= 1 and row["status"] == "done"
    assert got[("broken", "")]["status"] == "failed"
    assert 1.1 < float(got[(AVG, "max@0.5-1")]["rel_train_flops"]) < 1.5 and float(got[("single", "attention@1")]["rel_train_flops"]) == 1
    assert len(json.loads((out / "results.json").read_text())) == 4
    r = run("--only", "single", AVG)
    assert r.returncode == 0 and _statuses(r.stdout) == {"single": "skipped", AVG: "skipped"}, r.stderr[-2000:]
    r = run("--only", "nope")
    assert r.returncode == 2 and "not in the grid" in r.stderr

def test_grid_torchrun_two_ranks(tmp_path):
    torchrun = shutil.which("torchrun")
    assert torchrun, "torchrun not on PATH"
    grid = dict(GRID, base=dict(BASE, batch_size=4), experiments=[])     # the average model: two evaluations
    cfg = tmp_path / "grid.json"; cfg.write_text(json.dumps(grid)); out = tmp_path / "out"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run = lambda: subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", _exe(), "grid", "--config", str(cfg),
                                  "--out", str(out), "--no-progress"], capture_output=True, text=True, timeout=600, env=env)
    r = run()
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    assert _statuses(r.stdout) == {AVG: "trained"}    # printed once: rank 0 only
    rows = json.loads((out / "results.json").read_text())
    assert len(rows) == 2
    # the evaluation sharded over two ranks equals a single-process evaluation of the same checkpoint
    from scaleattn_nb.models import load_model
    from scaleattn_nb.data import get_dataset, eval_transforms
    from scaleattn_nb.infer import evaluate
    from scaleattn_nb.grid import prepare_for_eval
    threads = torch.get_num_threads(); torch.set_num_threads(1)     # the ranks ran with one thread: the same summation order
    try:
        for row in rows:
            m = load_model(out / row["experiment"] / row["checkpoint"])
            tc = json.loads((out / row["experiment"] / "grid_result.json").read_text())["config"]     # as trained
            prepare_for_eval(m, "sample", None, tc["train_split"], tc["freeze_bn"])
            ds = get_dataset("sample", None, "val", transform=eval_transforms(m.input_mean, m.input_std))
            ref = evaluate(m, ds, row["eval_scales"], row["flip"], row["merge"], "cpu", progress=False)
            assert abs(ref["miou"] - row["miou"]) < 1e-6 and ref["images"] == row["images"] == 4, (row["eval"], ref["miou"], row["miou"])
    finally: torch.set_num_threads(threads)
    r = run()
    assert r.returncode == 0 and _statuses(r.stdout) == {AVG: "skipped"}, r.stderr[-3000:]
