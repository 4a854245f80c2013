#!/usr/bin/env python3
"""Make a shippable CamVid checkpoint from a training run (`infer.finish_checkpoint`): val mIoU at the model's training scales
with the BatchNorm statistics of training and re-estimated on 16 batches of 8 whole train frames, the better kept; unseen
dilated taps zeroed; fp16 with both figures, the per-class IoU and the run's progress record in its metadata. From the
repository root:
  python tools/ship.py runs/stages/hier-s3-cu/last.pt camvid-hierarchical --out runs/stages/hier-s3-cu/final.pt \\
      --record nbs/camvid_runs/stages/hier-s3-cu.json --trained-on "CPU, no GPU: ..."
Without --out it writes scaleattn_nb/assets/checkpoints/NAME.pt."""
import argparse, json, os
from pathlib import Path
import torch
from scaleattn_nb.infer import finish_checkpoint
from scaleattn_nb.models import pretrained_dir

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("checkpoint"); p.add_argument("name")
    p.add_argument("--trained-on", required=True, help="hardware and sharing, in words (goes into the file)")
    p.add_argument("--root", default="../shared/data/camvid"); p.add_argument("--out", default=None)
    p.add_argument("--record", default=None, help="also write the file's metadata (figures, per-class IoU, progress and stages) "
                   "to this JSON file: a stage's record in camvid_runs/stages/, kept whether or not the stage ships")
    a = p.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 2))); torch.manual_seed(0)
    meta = finish_checkpoint(a.checkpoint, Path(a.out) if a.out else pretrained_dir() / f"{a.name}.pt", a.trained_on, a.root)
    print(json.dumps({k: v for k, v in meta.items() if k not in ("train_config", "progress", "val_iou")}, default=str))
    if a.record:
        Path(a.record).parent.mkdir(parents=True, exist_ok=True)
        Path(a.record).write_text(json.dumps(dict(meta, name=a.name), indent=1, default=str) + "\n")

if __name__ == "__main__":
    main()
