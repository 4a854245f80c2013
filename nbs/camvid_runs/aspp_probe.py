"""Inference-only probe of the scale-2 hypothesis (issue 6): trained on 224 crops (14x14 stride-16 features), the ASPP's
dilated taps (12/24/36) almost only ever read zero padding. If that is why scale 2 fails, keeping only each dilated
depthwise conv's centre tap at test time (what training saw) should help most at scale 2.
Run from the repository root: python nbs/camvid_runs/aspp_probe.py camvid-single 3 (then camvid-hierarchical). The camvid-single run
also had a third variant, centre tap only for rates 12, 24 and 36 (branches (1, 2, 3)): it is in aspp_probe_camvid-single.json.
It ran on the checkpoints shipped at commit b42976b, before the package's copies had these taps zeroed: on today's
checkpoints its 'as trained' rows are already the repaired models."""
import json, sys, time, torch
from torch.utils.data import Subset
from scaleattn_nb.models import pretrained
from scaleattn_nb.data import get_dataset, eval_transforms
from scaleattn_nb.demo import compare, format_table
torch.set_num_threads(1)
name, step = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3
ds = get_dataset("camvid", "../shared/data/camvid", "val", transform=eval_transforms(mean=(0, 0, 0), std=(1, 1, 1)))
nc = ds.num_classes; ds = Subset(ds, range(0, len(ds), step)); ds.num_classes = nc
def centre_only(model, branches):
    for b in branches:
        w = model.trunk.decoder.aspp[0].convs[b][0][0].weight      # depthwise 3x3, dilated
        with torch.no_grad(): c = w[:, :, 1, 1].clone(); w.zero_(); w[:, :, 1, 1] = c
    return model
sets = ((1.0,), (2.0,), (0.5, 1.0), (0.5, 1.0, 2.0))
merges = ("attention", "average") if name != "camvid-single" else ("average",)
out = {}
for tag, br in (("as trained", ()), ("centre tap only, d=24,36", (2, 3))):
    t0 = time.time()
    rows = compare({f"{name} [{tag}]": centre_only(pretrained(name), br)}, ds, sets, merges, progress=False)
    print(format_table(rows), f"\n{time.time() - t0:.0f} s", flush=True); out[tag] = rows
json.dump(dict(model=name, images=len(ds), rows=out), open(f"nbs/camvid_runs/aspp_probe_{name}.json", "w"), indent=1)
