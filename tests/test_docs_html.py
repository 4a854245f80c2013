"""The docs site, checked here without Quarto (its PyPI package downloads a binary these machines cannot fetch).

nbdev's own processing (`nbdev.serve.proc_nbs`: the front matter, `show_doc`, the directives, and the execution of every
cell holding an import, which fails the real site build when such a cell needs a name from an earlier cell) turns the
notebooks into `_proc/`, as `nbdev_docs` does before Quarto renders them. nbconvert renders the processed index and
`32_tao2020` pages to HTML, and headless Debian Chromium opens them and finds what a reader must see: the figures drawn
and the result tables. Screenshots go to tests/artifacts/docs_*.png for the person checking.
"""
from __future__ import annotations
import os, subprocess, sys
from pathlib import Path

import pytest

from test_explorer_browser import CHROMIUM, CHROMIUM_ARGS, _need

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "tests" / "artifacts"
# page -> (least figures drawn, least tables, a text every page of that kind must show)
PAGES = {"index": (1, 1, "camvid-hierarchical"), "32_tao2020": (3, 2, "paper IOU")}


@pytest.fixture(scope="module")
def processed() -> Path:
    "nbdev's processing of every notebook into _proc/ (git-ignored), as the site build does; fails on the first bad cell."
    env = dict(os.environ, IN_TEST="1", MPLBACKEND="Agg")
    r = subprocess.run([sys.executable, "-c", "from nbdev.serve import proc_nbs; proc_nbs(force=True, n_workers=0)"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-6000:]
    proc = REPO / "_proc"
    notebooks = sorted(p.name for p in (REPO / "nbs").glob("*.ipynb"))
    assert sorted(p.name for p in proc.glob("*.ipynb")) == notebooks, "some notebooks were not processed"
    return proc


def test_processed_pages_keep_outputs(processed):
    "Every processed page keeps the outputs stored in its notebook (the site shows them; it does not execute notebooks)."
    import json
    for nb in sorted((REPO / "nbs").glob("*.ipynb")):
        stored = sum(bool(c.get("outputs")) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
        shown = sum(bool(c.get("outputs")) for c in json.loads((processed / nb.name).read_text())["cells"] if c["cell_type"] == "code")
        assert shown >= min(stored, 1), f"{nb.name}: {stored} cells with outputs stored, {shown} after processing"


def _html(processed: Path, page: str) -> Path:
    "The processed page as HTML beside it in _proc/ (so that its relative links to figures resolve), front matter left to Quarto."
    import nbformat
    from nbconvert import HTMLExporter
    nb = nbformat.read(processed / f"{page}.ipynb", as_version=4)
    nb.cells = [c for c in nb.cells if not (c.cell_type == "raw" and c.source.lstrip().startswith("---"))]
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    path = processed / f"{page}.html"; path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize("page", list(PAGES))
def test_docs_page_in_chromium(processed, page):
    _need()
    from playwright.sync_api import sync_playwright
    figures, tables, text = PAGES[page]
    html = _html(processed, page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            pg = browser.new_page(viewport={"width": 1280, "height": 900})
            pg.goto(html.as_uri(), wait_until="load")
            drawn = pg.eval_on_selector_all("img", "els => els.filter(e => e.complete && e.naturalWidth > 32).length")
            found = pg.eval_on_selector_all("table", "els => els.filter(e => e.querySelectorAll('tr').length > 2).length")
            body = pg.inner_text("body")
            outputs = pg.eval_on_selector_all(".jp-OutputArea-output", "els => els.map(e => e.innerText).join('\\n')")
            pg.screenshot(path=str(ARTIFACTS / f"docs_{page}.png"), full_page=True)
        finally: browser.close()
    assert drawn >= figures, f"{page}: {drawn} figures drawn, expected at least {figures}"
    assert found >= tables, f"{page}: {found} tables with rows, expected at least {tables}"
    assert text in body, f"{page}: '{text}' is not on the page"
    assert outputs and "Traceback" not in outputs, f"{page}: no outputs, or a traceback among them"
    for machine in (str(REPO.parent) + "/", "/tmp/", str(Path.home()) + "/"):
        assert machine not in outputs, f"{page}: a machine path ({machine}) in the page's outputs"
