"""Does pooling BatchNorm statistics over scales hurt a multi-scale model? In training every scale's forward normalises with
its own batch statistics; in eval mode (and after `recalibrate_bn`, which runs the model at all its training scales) every
scale shares one set of running statistics, averaged over the scales. This script evaluates a model both ways on CamVid
val (101 frames, 360x480):

* pooled: BatchNorm statistics re-estimated as `infer.recalibrate_bn` does (16 batches of 8 whole train frames, every
  training scale in each forward);
* per scale: the same re-estimation run once per scale, at that scale only, and each scale's trunk evaluated with its own
  statistics; the merge (attention head, average, ...) is the model's own, unchanged.

It also writes, for every non-encoder BatchNorm layer, how far apart the scales' means of its input are, in units of the
pooled standard deviation (median over channels). Run from the repository root with ../shared beside it:
  python nbs/camvid_runs/explicit_diag/bn_scales.py camvid-explicit camvid-hierarchical runs/explicit_diag/NAME/last.pt ...
(writes bn_scales_<names>.json beside this file)."""
import copy, json, os, sys, torch
from pathlib import Path
from scaleattn_nb.models import load_model
from scaleattn_nb.data import get_dataset, eval_transforms
from scaleattn_nb.infer import recalibrate_bn
from scaleattn_nb.metrics import ConfusionMatrix
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 2))); torch.manual_seed(0)
ROOT = "../shared/data/camvid"

class AtScale(torch.nn.Module):
    "The model run at one scale only, so that `recalibrate_bn` collects that scale's statistics."
    def __init__(self, model, scale):
        super().__init__(); self.model, self.scale, self.trunk = model, scale, model.trunk
    def forward(self, x): return self.model.forward_scale(x, self.scale)

def bn_layers(model):
    enc = {id(m) for m in model.trunk.encoder.modules()}
    return {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and id(m) not in enc}

@torch.no_grad()
def run(path):
    model = load_model(path).eval()
    scales = tuple(model.train_scales)
    norm = eval_transforms(model.input_mean, model.input_std)
    train, val = (get_dataset("camvid", ROOT, split, transform=norm) for split in ("train", "val"))
    pooled = copy.deepcopy(model); recalibrate_bn(pooled, train, batches=16, batch_size=8, progress=False)
    own = {}
    for s in scales:
        own[s] = copy.deepcopy(model); recalibrate_bn(AtScale(own[s], s), train, batches=16, batch_size=8, progress=False)
    # how far apart the scales' statistics are: |mean_s - mean_1| / pooled std, median over channels, per layer
    gap = {}
    for n, m in bn_layers(pooled).items():
        sd = (m.running_var + m.eps).sqrt()
        ref = max(scales)
        d = {f"{s:g}": ((bn_layers(own[s])[n].running_mean - bn_layers(own[ref])[n].running_mean).abs() / sd).median().item()
             for s in scales if s != ref}
        gap[n] = d
    cms = {k: ConfusionMatrix(model.classes) for k in ("pooled", "per_scale", "pooled_scale1", "per_scale_scale1")}
    for x, y in torch.utils.data.DataLoader(val, batch_size=1):
        size = x.shape[-2:]
        for kind, nets in (("pooled", {s: pooled for s in scales}), ("per_scale", own)):
            per = {s: nets[s].forward_scale(x, s) for s in scales}
            cms[kind].update(pooled.merge_scales(per, size).logits, y)
            if 1.0 in per and len(scales) > 1: cms[kind + "_scale1"].update(per[1.0]["logits"], y)
    r = dict(scales=list(scales), **{k: c.miou() for k, c in cms.items() if c.matrix.sum() > 0}, gap=gap)
    print(path, {k: round(v, 4) for k, v in r.items() if isinstance(v, float)}, flush=True)
    return r

if __name__ == "__main__":
    names = sys.argv[1:]
    res = {n: run(n) for n in names}
    tag = "_".join(Path(n).parent.name if n.endswith(".pt") else n for n in names)
    json.dump(res, open(Path(__file__).parent / f"bn_scales_{tag}.json", "w"), indent=1)
