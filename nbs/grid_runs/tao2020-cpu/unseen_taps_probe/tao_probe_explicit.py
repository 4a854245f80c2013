"""Tao CPU grid, explicit {0.5, 1, 2} models (160-px crops x scale 2 = 320-px inputs: 20x20 stride-16 maps, so the rate-24/36 ASPP taps only read padding in training):
the grid's own evaluation (BN re-estimated on whole train frames) with and without infer.zero_unseen_taps first."""
import json, sys, torch
from scaleattn_nb.models import load_model
from scaleattn_nb.data import get_dataset, eval_transforms
from scaleattn_nb.demo import compare, format_table
from scaleattn_nb.grid import prepare_for_eval
from scaleattn_nb.infer import zero_unseen_taps
torch.set_num_threads(1)
ROOT = "/work/shared/data/camvid"
ds = get_dataset("camvid", ROOT, "val", transform=eval_transforms(mean=(0, 0, 0), std=(1, 1, 1)))
out = {}
for name in sys.argv[1:]:
    for zero in (False, True):
        m = load_model(f"/work/main/runs/tao2020-cpu/{name}/last.pt")
        z = zero_unseen_taps(m, (320, 320)) if zero else {}
        prepare_for_eval(m, "camvid", ROOT, "train", frozen_encoder=True)
        sets = ((0.5, 1.0, 2.0),)
        merges = ("attention", "average")
        rows = compare({f"{name}{' [unseen taps zeroed]' if zero else ''}": m}, ds, sets, merges, progress=False)
        print(z, "\n", format_table(rows), flush=True); out[f"{name} zero={zero}"] = rows
json.dump(out, open(f"/work/runs/probe_explicit/tao_probe_explicit_{sys.argv[1]}.json", "w"), indent=1)
