"""Val mIoU (CamVid val, 101 frames, 360x480) of the runs of train.sh: with the BatchNorm statistics of training, and after
re-estimating them on 16 batches of 8 whole train frames; at the training scales, and for multi-scale models at scale 1 alone.
Run from the repository root: python nbs/camvid_runs/explicit_diag/evaluate.py single explicit ... (writes results_<runs>.json here)."""
import copy, json, os, sys, torch
from pathlib import Path
from scaleattn_nb.models import load_model
from scaleattn_nb.data import get_dataset, eval_transforms
from scaleattn_nb.infer import recalibrate_bn, evaluate, evaluate_many, Setting
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 2))); torch.manual_seed(0)
ROOT, res = "../shared/data/camvid", {}
for name in sys.argv[1:]:
    m = load_model(Path("runs/explicit_diag") / name / "last.pt").eval()
    norm = eval_transforms(m.input_mean, m.input_std)
    val = get_dataset("camvid", ROOT, "val", transform=norm)
    m2 = copy.deepcopy(m)
    recalibrate_bn(m2, get_dataset("camvid", ROOT, "train", transform=norm), batches=16, batch_size=8, progress=False)
    sc = tuple(m.train_scales)
    settings = [Setting(sc)] + ([Setting((1.0,), "average")] if sc != (1.0,) else [])   # one pass: scale 1's trunk runs once
    recal = evaluate_many(m2, val, settings, progress=False)
    r = dict(scales=list(sc), train_bn=evaluate(m, val, sc, progress=False)["miou"], recal=recal[0]["miou"])
    if len(recal) > 1: r["recal_scale1"] = recal[1]["miou"]
    res[name] = r; print(name, {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}, flush=True)
json.dump(res, open(Path(__file__).parent / f"results_{'_'.join(sys.argv[1:])}.json", "w"), indent=1)
