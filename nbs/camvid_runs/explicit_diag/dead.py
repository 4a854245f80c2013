"""How many channels of each encoder stage carry no information: constant over every pixel of 4 CamVid val frames
(`train.constant_channels`, the test behind the deep_dead that `scaleattn train` logs), and how many of those are 0 (ReLU6
off) or 6 (ReLU6 saturated). The ASPP reads the deepest stage, so when it is constant the decoder can only use the stride-4
skip. Models: shipped names or checkpoints, plus `init` (the ImageNet MobileNetV2 before any training). Run
from the repository root:
  python nbs/camvid_runs/explicit_diag/dead.py init camvid-single camvid-hierarchical camvid-explicit runs/.../last.pt
(adds them to dead.json beside this file; a checkpoint is filed under its run folder's name)."""
import json, os, sys, torch
from pathlib import Path
from scaleattn_nb.models import load_model, create_model
from scaleattn_nb.data import get_dataset, eval_transforms
from scaleattn_nb.train import constant_channels
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 2)))
ROOT, FRAMES = "../shared/data/camvid", (0, 33, 66, 100)

@torch.no_grad()
def dead(name: str) -> dict:
    m = (create_model("single", weights="../shared/weights/mobilenet_v2_imagenet.pth") if name == "init" else load_model(name)).eval()
    val = get_dataset("camvid", ROOT, "val", transform=eval_transforms(m.input_mean, m.input_std))
    feats = m.trunk.encoder(torch.stack([val[i][0] for i in FRAMES]))
    out = {}
    for i, t in enumerate(feats[1:], 1):
        const = constant_channels(t)
        lo, hi = t.amin(dim=(0, 2, 3)), t.amax(dim=(0, 2, 3))
        out[f"stage{i}"] = dict(channels=t.shape[1], constant=int(const.sum()), zero=int((hi == 0).sum()),
                                six=int((lo >= 6 - 1e-4).sum()))
    print(name, {k: f"{v['constant']}/{v['channels']}" for k, v in out.items()}, flush=True)
    return out

if __name__ == "__main__":
    out = Path(__file__).parent / "dead.json"
    res = json.loads(out.read_text()) if out.is_file() else {}
    res.update({(Path(n).parent.name if n.endswith(".pt") else n): dead(n) for n in sys.argv[1:]})
    out.write_text(json.dumps(res, indent=1) + "\n")
