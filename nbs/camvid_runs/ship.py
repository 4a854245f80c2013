"""Make a shipped CamVid checkpoint from a CPU training run of `scaleattn train` (how camvid-explicit was shipped on
2026-12-03). Val mIoU (CamVid val, 101 frames, 360x480) at the model's training scales with the BatchNorm statistics of
training, then after re-estimating those outside the frozen encoder on 16 batches of 8 whole train frames
(`infer.recalibrate_bn`, as evaluate.py in explicit_diag does); the better of the two ships. Dilated-convolution taps that
only read padding at the training crop are zeroed (`infer.zero_unseen_taps`; none for ASPP 6/12/18 at 360x480). Written
with `models.export_half` (fp16, BatchNorm statistics fp32, no aux head), the run's progress record and both figures in its
metadata, and paths in the training config made relative to the repository root. Run from the repository root:
  python nbs/camvid_runs/ship.py runs/camvid-explicit-s17/last.pt camvid-explicit --trained-on "CPU, no GPU: ..."
(writes scaleattn_nb/assets/checkpoints/camvid-explicit.pt; --out to write elsewhere, --record to keep its figures as JSON). `finish` does the same for
tools/device/verify --ship, which installs the fp16 files a GPU run returned."""
import argparse, copy, json, os, tempfile, torch
from pathlib import Path
from scaleattn_nb.models import load_model, save_checkpoint, export_half, pretrained_dir, _read_checkpoint
from scaleattn_nb.data import get_dataset, eval_transforms
from scaleattn_nb.infer import recalibrate_bn, evaluate, zero_unseen_taps

def relative(v, root: Path):
    "A config value with the repository's parent folder (where ../shared lives) written relative to the repository root."
    if isinstance(v, str) and v.startswith("/"):
        try: return os.path.relpath(v, root)
        except ValueError: return v
    return v

def finish(checkpoint, out, trained_on: str, root="../shared/data/camvid", dataset: str = "camvid", train_config=None,
           extra=None, images=None, bn_batches: int = 16, log=print) -> dict:
    """The finishing steps from a training checkpoint (a run's last.pt, or the fp16 file a GPU run returned) to the file `out`:
    evaluate at the training scales, re-estimate BatchNorm on `bn_batches` x 8 whole train frames and keep the better, zero
    unseen taps, export fp16 with the figures. `train_config` is recorded instead of the checkpoint's (its paths made relative
    to the working folder) when given; `extra` is kept in the file as well (a GPU run's own record); `images` evaluates the
    first N val frames only (tests). Returns the metadata written."""
    ck = _read_checkpoint(checkpoint)
    tc, prog = ck["extra"]["train_config"], ck["extra"].get("progress") or {}
    m = load_model(checkpoint).eval()
    norm = eval_transforms(m.input_mean, m.input_std)
    val = get_dataset(dataset, root, "val", transform=norm)
    if images: val.files = val.files[:images]
    sc = tuple(m.train_scales)
    size = [int(round(c * max(sc))) for c in tc["crop_size"]]   # crops are cut after the rescale: the trunk sees crop x scale
    zeroed = zero_unseen_taps(m, size)
    r0 = evaluate(m, val, sc, progress=False)
    m2 = copy.deepcopy(m)
    n_bn = recalibrate_bn(m2, get_dataset(dataset, root, "train", transform=norm), batches=bn_batches, batch_size=8, progress=False)
    r1 = evaluate(m2, val, sc, progress=False)
    recal = r1["miou"] > r0["miou"]
    best, r = (m2, r1) if recal else (m, r0)
    log(f"{Path(str(out)).stem}: val mIoU at {sc} {r0['miou']:.4f} with the BN statistics of training, {r1['miou']:.4f} re-estimated "
        f"({n_bn} layers); ships {'re-estimated' if recal else 'as trained'}; unseen taps zeroed at {size}: {zeroed or 'none'}")
    repo = Path.cwd()
    config = {k: relative(v, repo) for k, v in tc.items()} if train_config is None else dict(train_config)
    meta = dict(train_config=config, iteration=ck["extra"].get("iteration"),
                val_miou=r["miou"], val_iou=r.get("iou"), val_scales=list(sc), images=len(val),
                val_miou_train_bn_stats=r0["miou"], val_miou_recalibrated_bn=r1["miou"], bn_recalibrated=recal,
                bn_layers_recalibrated=n_bn, bn_recalibration=f"{bn_batches} batches x 8 whole {dataset} train images",
                val_miou_before_bn_recalibration=r0["miou"], unseen_taps_zeroed={k: int(v) for k, v in zeroed.items()},
                unseen_taps_train_size=size, progress=prog, iterations_planned=prog.get("iterations_planned"),
                finished=prog.get("finished"), epochs=prog.get("epochs"), images_seen=prog.get("images_seen"),
                wall_s=prog.get("wall_s"), trained_on=trained_on, **(extra or {}))
    out = Path(out)
    with tempfile.TemporaryDirectory() as d:
        tmp = save_checkpoint(best, Path(d) / "model.pt", **ck["extra"])
        export_half(tmp, out, **meta)
    log(f"wrote {out.name}: {out.stat().st_size / 1e6:.2f} MB")
    return meta

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoint"); p.add_argument("name")
    p.add_argument("--trained-on", required=True, help="hardware and sharing, in words (goes into the file)")
    p.add_argument("--root", default="../shared/data/camvid"); p.add_argument("--out", default=None)
    p.add_argument("--record", default=None, help="also write the file's metadata (figures, per-class IoU, progress and stages) "
                   "to this JSON file: a stage's record in camvid_runs/stages/, kept whether or not the stage ships")
    a = p.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 2))); torch.manual_seed(0)
    meta = finish(a.checkpoint, Path(a.out) if a.out else pretrained_dir() / f"{a.name}.pt", a.trained_on, a.root)
    print(json.dumps({k: v for k, v in meta.items() if k not in ("train_config", "progress", "val_iou")}, default=str))
    if a.record:
        Path(a.record).parent.mkdir(parents=True, exist_ok=True)
        Path(a.record).write_text(json.dumps(dict(meta, name=a.name), indent=1, default=str) + "\n")

if __name__ == "__main__":
    main()
