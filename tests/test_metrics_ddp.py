"ConfusionMatrix.all_reduce across 2 real processes (gloo on CPU): the reduced matrix is the matrix of the union of both ranks' data."
import os
from pathlib import Path
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from scaleattn_nb.metrics import ConfusionMatrix

WORLD, C = 2, 5

def _rank_data(rank: int):
    "Different, uneven data on each rank: rank r has r + 2 batches, with ignored pixels; predictions and logits mixed."
    g = torch.Generator().manual_seed(1000 + rank)
    batches = []
    for i in range(rank + 2):
        y = torch.randint(0, C, (2, 9, 11), generator=g)
        y[torch.rand(2, 9, 11, generator=g) < 0.2] = 255
        p = torch.randn(2, C, 9, 11, generator=g) if i % 2 else torch.randint(0, C, (2, 9, 11), generator=g)
        batches.append((p, y))
    return batches

def _worker(rank: int, init_file: str, out_dir: str):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        cm = ConfusionMatrix(C)
        for p, y in _rank_data(rank): cm.update(p, y)
        torch.save(cm.matrix.clone(), os.path.join(out_dir, f"local{rank}.pt"))
        cm.all_reduce()
        torch.save({"matrix": cm.matrix, "miou": cm.miou()}, os.path.join(out_dir, f"reduced{rank}.pt"))
        dist.barrier()
    finally:
        dist.destroy_process_group()

def test_all_reduce_equals_union(tmp_path: Path, monkeypatch):
    # the spawned processes import this file and the package: make both importable whatever the caller's cwd
    root = str(Path(__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [root, str(Path(__file__).parent), os.environ.get("PYTHONPATH")])))
    mp.spawn(_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD, join=True)

    union = ConfusionMatrix(C)
    for rank in range(WORLD):
        for p, y in _rank_data(rank): union.update(p, y)
    locals_ = [torch.load(tmp_path / f"local{r}.pt", weights_only=True) for r in range(WORLD)]
    assert not torch.equal(locals_[0], locals_[1])                 # the ranks really saw different data
    for r in range(WORLD):
        red = torch.load(tmp_path / f"reduced{r}.pt", weights_only=True)
        assert red["matrix"].dtype == torch.int64
        assert torch.equal(red["matrix"], union.matrix)          # every rank holds the total ...
        assert red["miou"] == union.miou()                       # ... and computes the same score
    assert torch.equal(locals_[0] + locals_[1], union.matrix)

def test_all_reduce_is_noop_without_process_group():
    assert not dist.is_initialized()
    cm = ConfusionMatrix(C)
    for p, y in _rank_data(0): cm.update(p, y)
    before = cm.matrix.clone()
    assert torch.equal(cm.all_reduce().matrix, before)
