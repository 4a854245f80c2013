"Two processes on CPU with gloo under torchrun: both ranks end with identical weights and buffers, and evaluation (what training validates with) reduces over ranks."
import json, shutil, subprocess, sys, textwrap
from pathlib import Path
import torch

SCRIPT = textwrap.dedent('''
    import json, sys, torch, torch.distributed as dist
    from scaleattn_nb.train import TrainConfig, train, dist_info
    from scaleattn_nb.infer import evaluate
    from scaleattn_nb.data import get_dataset, eval_transforms
    out = sys.argv[1]
    cfg = TrainConfig(method="average", dataset="sample", crop_size=(64, 64), batch_size=4, iters=3, workers=0,
                      val_split=None, out=out, progress=False, train_scales=(0.5, 1.0))
    res = train(cfg)
    rank, world = dist_info()
    assert world == 2
    # each rank's own weights after training (DDP must have kept them identical)
    model = res["model"]
    torch.save(model.state_dict(), f"{out}/state{rank}.pt")
    # evaluation over this rank's half of the val split, confusion matrices summed over both ranks
    ds = get_dataset("sample", None, "val", transform=eval_transforms(mean=model.input_mean, std=model.input_std))
    res = evaluate(model, ds, device="cpu", progress=False)
    json.dump(res, open(f"{out}/eval{rank}.json", "w"))
    dist.destroy_process_group()
''')

def run_two_ranks(script_text: str, tmp_path: Path, timeout: float = 900) -> None:
    "Run `script_text` (given tmp_path as its argument) under torchrun with two CPU processes; it must exit 0."
    torchrun = shutil.which("torchrun")
    assert torchrun, "torchrun not on PATH"
    script = tmp_path / "ddp_script.py"; script.write_text(script_text)
    r = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", str(script), str(tmp_path)],
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]

def test_ddp_two_ranks_cpu(tmp_path):
    run_two_ranks(SCRIPT, tmp_path)
    s0, s1 = torch.load(tmp_path / "state0.pt"), torch.load(tmp_path / "state1.pt")
    differ = [k for k in s0 if not torch.equal(s0[k], s1[k])]
    assert not differ, f"ranks ended with different weights/buffers: {differ[:5]}"
    # the summed confusion matrices count every val pixel once: the same result on both ranks, and equal to a single-process pass
    e0, e1 = (json.loads((tmp_path / f"eval{r}.json").read_text()) for r in (0, 1))
    assert e0 == e1
    from scaleattn_nb.models import load_model
    from scaleattn_nb.data import get_dataset, eval_transforms
    from scaleattn_nb.infer import evaluate
    m = load_model(tmp_path / "last.pt")
    ds = get_dataset("sample", None, "val", transform=eval_transforms(mean=m.input_mean, std=m.input_std))
    single = evaluate(m, ds, device="cpu", progress=False)
    assert single == e0 and single["pixels"] == e0["pixels"] > 0, (single, e0)


SCRIPT_EDGE = textwrap.dedent('''
    import sys, torch, torch.distributed as dist
    from scaleattn_nb.train import TrainConfig, train, dist_info, NonFiniteLossError
    from scaleattn_nb.losses import build_loss
    out = sys.argv[1]
    cfg = TrainConfig(method="hierarchical", dataset="sample", crop_size=(64, 64), batch_size=4, iters=3, workers=0,
                      val_split=None, out=out + "/aux0", progress=False, train_scales=(0.5, 1.0), aux_weight=0.0)
    train(cfg)                                     # the aux head gets no gradient: DDP must be told to look for such parameters
    rank, world = dist_info()
    loss = build_loss("hierarchical", 11)
    calls = dict(n=0)
    def nan_on_rank1(o, y):                        # a non-finite loss on one rank only: both ranks must stop, neither may hang
        calls["n"] += 1
        l, parts = loss(o, y)
        return (l * float("nan") if rank == 1 and calls["n"] == 2 else l), parts
    try: train(TrainConfig(**{**cfg.to_dict(), "out": out + "/nan", "aux_weight": None}), loss_fn=nan_on_rank1)
    except NonFiniteLossError as e: open(f"{out}/stopped{rank}.txt", "w").write(str(e))
    dist.destroy_process_group()
''')

def test_ddp_unused_parameters_and_nan_on_one_rank(tmp_path):
    run_two_ranks(SCRIPT_EDGE, tmp_path, timeout=600)      # a rank left waiting in an all-reduce would end here, not hang
    assert (tmp_path / "aux0" / "last.pt").is_file()
    for rank in (0, 1): assert "at iteration 1" in (tmp_path / f"stopped{rank}.txt").read_text()
