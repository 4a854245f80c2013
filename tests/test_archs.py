"""Scale attention beyond DeepLabV3+, through the whole package on the CPU: an smp U-Net trained by `scaleattn train --decoder unet`,
a user's own network wrapped in one line and trained by `train.train(cfg, model=...)` or, named as 'module:Class', from the command
line; each then evaluated by `infer`, tabled by `demo.compare` and opened in the explorer. (Every architecture x every method,
forward and backward, is the grid in nbs/01_models.ipynb.)"""
import json, os, subprocess, textwrap
from pathlib import Path
import pytest, torch
import torch.nn as nn
from _cli import scaleattn_exe
from scaleattn_nb.models import create_model, load_model, load_checkpoint, wrap_model
from scaleattn_nb.data import get_dataset, eval_transforms

TRAIN = ["--dataset", "sample", "--crop-size", "64", "64", "--batch-size", "2", "--iters", "3", "--workers", "0",
         "--val-split", "none", "--cache", "ram", "--no-progress"]

def _scaleattn(*args, env=None, timeout=300) -> subprocess.CompletedProcess:
    r = subprocess.run([scaleattn_exe(), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return r

def _sum_to_one(weights):
    total = sum(weights.values())
    assert torch.allclose(total, torch.ones_like(total), atol=1e-5)

def _val(model, normalised=True):
    "The sample's four val frames, normalised for `model` (or in [0, 1], as demo.compare wants them)."
    mean, std = (model.input_mean, model.input_std) if normalised else ((0, 0, 0), (1, 1, 1))
    return get_dataset("sample", split="val", transform=eval_transforms(mean=mean, std=std))

def _explorer_opens(checkpoint=None, model=None, decoder=None):
    from scaleattn_nb.explorer import ScaleExplorer
    ex = ScaleExplorer(checkpoint=None if model is not None else str(checkpoint), model=model, dataset="sample",
                       scales=(0.5, 1.0), max_side=96)
    assert ex.out is not None and ex.model.config["decoder"] == decoder
    _sum_to_one(ex.out.weights)
    if checkpoint is not None: assert ex.load_checkpoint(str(checkpoint)), ex.status_label.value
    return ex

def test_cli_trains_an_smp_unet_and_every_consumer_opens_it(tmp_path):
    from scaleattn_nb.infer import evaluate
    out = tmp_path / "unet"
    _scaleattn("train", *TRAIN, "--method", "hierarchical", "--encoder", "resnet18", "--decoder", "unet",
               "--decoder-channels", "64", "--head-channels", "16", "--out", out)
    ck = out / "last.pt"
    m = load_model(ck).eval()
    assert (m.config["decoder"], m.config["decoder_channels"], m.config["head_channels"]) == ("unet", 64, 16)
    assert (m.trunk.arch, m.trunk.stride, m.trunk.channels) == ("unet", 1, 4)
    with pytest.raises(ValueError, match="decoder='unet'"):            # the checkpoint records its architecture
        load_checkpoint(create_model("hierarchical", encoder="resnet18", classes=m.classes), ck)
    res = evaluate(m, _val(m), scales=(0.5, 1.0), device="cpu", progress=False)
    assert 0 <= res["miou"] <= 1 and res["images"] == 4
    _explorer_opens(ck, decoder="unet")

class TinyNet(nn.Module):
    "A user's own network written to the trunk protocol: its `stride` and `channels` say where its features are."
    stride, channels = 4, 16
    def __init__(self, width: int = 16):
        super().__init__()
        self.channels = width
        self.body = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(width, width, 3, padding=2, dilation=2), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2))
    def forward(self, x): return self.body(x)

def test_wrapped_network_trains_and_runs_in_infer_demo_and_explorer(tmp_path):
    from scaleattn_nb.train import TrainConfig, train
    from scaleattn_nb.infer import predict, evaluate
    from scaleattn_nb.demo import compare
    classes = get_dataset("sample").num_classes
    model = wrap_model(TinyNet(), "hierarchical", classes=classes, head_channels=16)      # the one line
    cfg = TrainConfig(method="hierarchical", dataset="sample", crop_size=(64, 64), batch_size=2, iters=3, workers=0, val_split=None,
                      cache="ram", out=str(tmp_path / "run"), progress=False)
    res = train(cfg, model=model)
    assert res["model"] is model and res["iterations"] == 3 and res["finished"]
    back = load_model(tmp_path / "run" / "last.pt").eval()                                # rebuilt: TinyNet(**{}) from its name
    assert isinstance(back.trunk.net, TinyNet) and back.config["encoder"].endswith(":TinyNet")
    for k, v in model.state_dict().items(): assert torch.equal(back.state_dict()[k], v.cpu()), k
    x = back.normalize(_val(back, normalised=False)[0][0][None])
    o = predict(back, x, scales=(0.5, 1.0, 2.0))
    assert o.logits.shape == (1, classes, *x.shape[-2:]); _sum_to_one(o.weights)
    assert 0 <= evaluate(back, _val(back), scales=(0.5, 1.0), device="cpu", progress=False)["miou"] <= 1
    rows = compare({"tiny": back}, _val(back, normalised=False), scale_sets=((1.0,), (0.5, 1.0, 2.0)), progress=False)
    assert {(tuple(r["scales"]), r["merge"]) for r in rows} == {(S, mg) for S in ((1.0,), (0.5, 1.0, 2.0)) for mg in ("attention", "average", "max")}
    assert all(0 <= r["miou"] <= 1 for r in rows)
    _explorer_opens(model=back, decoder="custom")
    _explorer_opens(tmp_path / "run" / "last.pt", decoder="custom")

NETS = '''
import torch.nn as nn
class Net(nn.Module):
    "Features of 8 channels at stride 2, said by the trunk protocol's attributes: trainable by name from the command line."
    stride, channels = 2, 8
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2))
    def forward(self, x): return self.body(x)
'''

def test_cli_trains_and_evaluates_a_network_named_by_module(tmp_path):
    (tmp_path / "mynets.py").write_text(textwrap.dedent(NETS))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    out = tmp_path / "run"
    _scaleattn("train", *TRAIN, "--method", "average", "--encoder", "mynets:Net", "--decoder", "custom", "--head-channels", "8",
               "--out", out, env=env)
    r = _scaleattn("eval", "--checkpoint", out / "last.pt", "--scales", "0.5", "1.0", "--workers", "0", "--json", env=env)
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert 0 <= res["miou"] <= 1 and res["scales"] == [0.5, 1.0]
    cfg = torch.load(out / "last.pt", weights_only=True)["config"]
    assert (cfg["encoder"], cfg["decoder"], cfg["stride"], cfg["channels"], cfg["multiple"]) == ("mynets:Net", "custom", 2, 8, 2)
    with pytest.raises(ValueError, match="cannot find the network class 'mynets:Net'"):   # not importable in this process
        load_model(out / "last.pt")
