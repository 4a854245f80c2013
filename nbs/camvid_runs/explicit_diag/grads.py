"""Gradient norms on one real CamVid batch (4 train frames, top-left 192x256, frozen encoder BatchNorm as in training) at
initialisation: how much gradient each loss term sends to the encoder, the decoder and the heads, single vs explicit with the
same trunk and head weights. Run from the repository root: python nbs/camvid_runs/explicit_diag/grads.py (writes grads.json here)."""
import json, torch
from pathlib import Path
from scaleattn_nb.models import create_model, MINUS1_1
from scaleattn_nb.data import get_dataset, eval_transforms
from scaleattn_nb.losses import build_loss, cross_entropy
from scaleattn_nb.train import set_train_mode
torch.set_num_threads(2); torch.manual_seed(0)
ds = get_dataset("camvid", "../shared/data/camvid", "train", transform=eval_transforms(*MINUS1_1))
xs, ys = zip(*[ds[i] for i in (0, 40, 80, 120)])
x, y = torch.stack(xs)[:, :, :192, :256].contiguous(), torch.stack(ys)[:, :192, :256].contiguous()
kw = dict(encoder="mobilenet_v2", classes=11, weights="../shared/weights/mobilenet_v2_imagenet.pth", decoder_channels=192,
          head_channels=128, atrous_rates=(6, 12, 18))

def norms(model, loss_fn, term=None) -> dict:
    "L2 norm of the gradient of the total loss (or of one term: 'merged' or a scale's CE) per part of the model."
    model.zero_grad(); set_train_mode(model, freeze_bn=True)
    out = model(x)
    loss = (loss_fn(out, y)[0] if term is None else
            cross_entropy(out.logits if term == "merged" else out.scale_logits[term], y))
    loss.backward()
    g = lambda pred: torch.stack([p.grad.pow(2).sum() for n, p in model.named_parameters()
                                  if p.grad is not None and pred(n)] or [torch.zeros(())]).sum().sqrt().item()
    return dict(encoder=g(lambda n: n.startswith("trunk.encoder")),
                decoder=g(lambda n: n.startswith("trunk.") and not n.startswith("trunk.encoder")),
                head=g(lambda n: n.startswith("head.")), attn_head=g(lambda n: n.startswith("attn_head.")), loss=loss.item())

res = {}
torch.manual_seed(0); single = create_model("single", **kw)
res["single"] = norms(single, build_loss("single", 11))
torch.manual_seed(0); explicit = create_model("explicit", attention_channels=256, **kw)
explicit.trunk.load_state_dict(single.trunk.state_dict()); explicit.head.load_state_dict(single.head.state_dict())
L = build_loss("explicit", 11)
res["explicit (total)"] = norms(explicit, L)
for t in ("merged", 0.5, 0.75, 1.0): res[f"explicit ({t if t == 'merged' else f'scale {t:g}'})"] = norms(explicit, L, t)
for k, v in res.items(): print(f"{k:22s}", " ".join(f"{a} {b:.3f}" for a, b in v.items()))
ratio = {p: res["explicit (total)"][p] / res["single"][p] for p in ("encoder", "decoder", "head")}
print("explicit/single gradient norm:", {p: round(r, 2) for p, r in ratio.items()})
json.dump(dict(norms=res, explicit_over_single=ratio), open(Path(__file__).parent / "grads.json", "w"), indent=1)
