"""Tao CPU grid (160-px crops: 10x10 stride-16 maps, so every off-centre ASPP tap of rates 12/24/36 only read padding in training;
the explicit models also train at scale 2, i.e. on 320-px inputs, where rates 24/36 are blind): the grid's own evaluation (BN
re-estimated on whole train frames) with and without infer.zero_unseen_taps at the largest training input (crop x largest
training scale). Usage, from the repository root: python nbs/grid_runs/tao2020-cpu/unseen_taps_probe/tao_probe.py NAME [NAME ...]
(run folders under runs/tao2020-cpu); writes runs/tao_probe_<first NAME>.json. The explicit JSON here was written under the
name tao_probe_explicit_<NAME>.json. (It was run on 2026-11-21 with these paths absolute on that machine.)"""
import json, sys, torch
from scaleattn_nb.models import load_model
from scaleattn_nb.data import get_dataset, eval_transforms
from scaleattn_nb.demo import compare, format_table
from scaleattn_nb.grid import prepare_for_eval
from scaleattn_nb.infer import zero_unseen_taps
torch.set_num_threads(1)
ROOT, S3 = "../shared/data/camvid", (0.5, 1.0, 2.0)
SETS = {"single": ((1.0,), S3), "explicit": (S3,), "hierarchical": ((0.5, 1.0), S3)}   # explicit runs on its trained set only
ds = get_dataset("camvid", ROOT, "val", transform=eval_transforms(mean=(0, 0, 0), std=(1, 1, 1)))
out = {}
for name in sys.argv[1:]:
    for zero in (False, True):
        m = load_model(f"runs/tao2020-cpu/{name}/last.pt")
        crop = m.checkpoint_extra["train_config"]["crop_size"]
        size = tuple(round(c * max(m.train_scales)) for c in crop)            # 160x160, or 320x320 for explicit
        z = zero_unseen_taps(m, size) if zero else {}
        prepare_for_eval(m, "camvid", ROOT, "train", frozen_encoder=True)
        merges = ("average",) if m.method == "single" else ("attention", "average")
        rows = compare({f"{name}{' [unseen taps zeroed]' if zero else ''}": m}, ds, SETS[m.method], merges, progress=False)
        print(z, "\n", format_table(rows), flush=True); out[f"{name} zero={zero}"] = rows
json.dump(out, open(f"runs/tao_probe_{sys.argv[1]}.json", "w"), indent=1)
