"""What the docs say, checked against the files: no warnings stored as outputs, every figure a page links present, and every
mIoU quoted next to a shipped model's name one that its files give (typed figures are allowed only in dated history)."""
from __future__ import annotations
import json, re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NBS = REPO / "nbs"
NOTEBOOKS = sorted(NBS.glob("*.ipynb"))
WARNING = re.compile(r"\b\w*Warning\b:")
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)[^)]*\)|<img [^>]*src=\"([^\"]+)\"")
MODEL = re.compile(r"camvid-(hierarchical|single|explicit)")
PERCENT = re.compile(r"(?<![\d.])(\d{1,2}\.\d)%")
HEADING = re.compile(r"^(#{1,6}) (.*)$", re.M)
DATED = re.compile(r"History|\b20\d\d-\d\d-\d\d\b")


def _cells(nb: Path) -> list[dict]: return json.loads(nb.read_text())["cells"]


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_warnings_stored(nb):
    "A warning in a stored output is fixed where it is raised (or caught and checked by the example), not shipped to the docs."
    bad = [(i, m.group(0)) for i, c in enumerate(_cells(nb)) for o in c.get("outputs", [])
           if o.get("output_type") == "stream" for m in [WARNING.search("".join(o.get("text", "")))] if m]
    assert not bad, f"{nb.name}: warnings in the stored outputs of cells {bad}"


def _markdown(nb: Path) -> list[str]: return ["".join(c["source"]) for c in _cells(nb) if c["cell_type"] == "markdown"]


def test_linked_figures_exist():
    "Every image a notebook's markdown or the README links (a relative path) is a committed file."
    pages = [(nb, text, nb.parent) for nb in NOTEBOOKS for text in _markdown(nb)] + [(REPO / "README.md", (REPO / "README.md").read_text(), REPO)]
    missing = [(page.name, src) for page, text, base in pages for m in IMAGE.finditer(text)
               for src in [m.group(1) or m.group(2)] if not re.match(r"(https?|data|attachment):", src) and not (base / src).is_file()]
    assert not missing, f"figures linked but absent: {missing}"


def _current_lines(texts: list[str]):
    """The lines of markdown cells `texts` outside dated history. Dated: a section whose heading names History or a date (until
    the next heading of its level or higher), and a paragraph that gives its date."""
    dated_level = None
    for text in texts:
        for para in re.split(r"\n\s*\n", text):
            lines = para.strip().splitlines()
            h = HEADING.match(lines[0]) if lines else None
            if h:
                level = len(h.group(1))
                if dated_level is not None and level <= dated_level: dated_level = None
                if dated_level is None and DATED.search(h.group(2)): dated_level = level
                lines = lines[1:]
            if dated_level is None and not DATED.search(para): yield from lines


def test_dated_history_rule():
    "The rule itself, on made-up markdown: only the undated, un-sectioned line is current."
    texts = ["## Results\n\nNow 50.0%.\n\nOn 2026-11-27 it was 30.0%.", "### History\n\nOnce 20.0%.\n\n#### Detail\n\nAlso 21.0%.",
             "## Next\nAgain 51.0%."]
    assert list(_current_lines(texts)) == ["Now 50.0%.", "Again 51.0%."]


def _known_figures(model: str) -> set[str]:
    "Every mIoU and class IoU (%, one decimal) that model `camvid-MODEL`'s table and checkpoint record give."
    from scaleattn_nb.models import _read_checkpoint
    name, vals = f"camvid-{model}", set()
    table = NBS / "camvid_runs" / f"table_{name}.json"
    rows = json.loads(table.read_text())["rows"] if table.is_file() else []
    ex = _read_checkpoint(name)["extra"]
    for v in [r["miou"] for r in rows] + [v for r in rows for v in r["iou"].values()] + list((ex.get("val_iou") or {}).values()) \
             + [ex.get(k) for k in ("val_miou", "val_miou_train_bn_stats", "val_miou_recalibrated_bn")]:
        if v is not None: vals.add(f"{100 * v:.1f}")
    return vals


def test_quoted_figures_are_the_shipped_models():
    """A percentage on a line of current prose that names a shipped model is one of that model's figures; a figure of an older
    model belongs in a dated history section. (The generated outputs are computed from the files, so only markdown is read.)"""
    known = {m: _known_figures(m) for m in ("hierarchical", "single", "explicit")}
    wrong = []
    for nb in NOTEBOOKS:
        for line in _current_lines(_markdown(nb)):
            models = set(MODEL.findall(line))
            if not models: continue
            ok = set().union(*(known[m] for m in models))
            wrong += [(nb.name, p, line.strip()[:120]) for p in PERCENT.findall(line) if p not in ok]
    assert not wrong, "figures quoted as current that the shipped files do not give:\n" + "\n".join(map(str, wrong))


PROCESS = re.compile(r"\bissues? #?\d+\b|\bsessions?\b|\bnext call\b|\bnext issue\b", re.I)


def test_no_process_words():
    """The docs speak of the project, not of how its work was organised: no issue numbers, sessions or "next call" in any
    notebook's markdown or the README (a date says when, where history needs it)."""
    pages = [(nb.name, text) for nb in NOTEBOOKS for text in _markdown(nb)] + [("README.md", (REPO / "README.md").read_text())]
    bad = [(name, text[max(0, m.start() - 40):m.end() + 20].replace("\n", " ")) for name, text in pages for m in PROCESS.finditer(text)]
    assert not bad, f"process words in the docs: {bad}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_figure_stored_twice(nb):
    "A cell shows each of its figures once (a figure drawn by the inline backend and also returned as the cell's value shows twice)."
    twice = []
    for i, c in enumerate(_cells(nb)):
        images = ["".join(o["data"][k]) for o in c.get("outputs", []) for k in ("image/png", "image/jpeg") if k in o.get("data", {})]
        if len(images) != len(set(images)): twice.append(i)
    assert not twice, f"{nb.name}: cells {twice} store the same figure twice"
