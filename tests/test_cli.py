"The installed `scaleattn` console script, end to end in a subprocess, and its help, lists and errors."
import argparse, re
import pytest
from _cli import run_scaleattn, REPO

def _run(*args): return run_scaleattn(*args, timeout=300)

SUBCOMMANDS = ("info", "train", "eval", "predict", "autolabel", "bench", "demo", "grid")

def test_info_self_check_passes():
    r = _run("info", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert "self-check passed" in r.stdout

def test_unknown_command_is_refused():
    r = _run("frobnicate")
    assert r.returncode == 2 and "invalid choice" in r.stderr

def test_cuda_request_without_cuda_is_a_clear_error():
    import torch
    if torch.cuda.is_available(): return
    r = _run("info", "--device", "cuda")
    assert r.returncode == 2 and "no CUDA device" in r.stderr

def test_version_prints_the_package_version():
    version = re.search(r'^__version__ = "(.+)"', (REPO / "scaleattn_nb" / "__init__.py").read_text(), re.M).group(1)
    r = _run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"scaleattn_nb {version}", (r.stdout, r.stderr)

@pytest.fixture(scope="module")
def parser():
    from scaleattn_nb.cli import build_parser
    return build_parser()

def _subparsers(parser) -> dict:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices

def test_every_option_has_help_and_a_default(parser):
    from scaleattn_nb.cli import HelpFormatter
    subs = _subparsers(parser)
    assert set(SUBCOMMANDS) <= set(subs)
    fmt = HelpFormatter("scaleattn")
    for name in SUBCOMMANDS:
        for a in subs[name]._actions:
            if isinstance(a, argparse._HelpAction): continue
            assert (a.help or "").strip(), f"scaleattn {name} {a.option_strings}: no help text"
            shown = fmt._get_help_string(a)
            assert "(default" in shown or "(required" in shown, f"scaleattn {name} {a.option_strings}: no default shown ({shown!r})"
        assert "\nexamples:\n  scaleattn " in subs[name].format_help(), name

@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_help_of_each_subcommand(parser, name):
    text = " ".join(_subparsers(parser)[name].format_help().split())
    assert "(default: " in text and "examples: scaleattn " + name in text
    if name in ("eval", "predict", "autolabel"):
        assert "--merge {attention,average,max}" in text and "--window H W" in text

def test_train_help_in_a_subprocess():
    r = _run("train", "--help")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    for s in ("--method {single,average,max,explicit,hierarchical} how the scales are merged", "(default: hierarchical)",
              "--cache {auto,none,ram,device}", "--amp {auto,bf16,fp16,off}", "--loss {ce,rmi,none}", "--crop-size H [W]",
              "(default: 360 480)", "--freeze-bn, --no-freeze-bn", "examples: scaleattn train"):
        assert s in text, s

@pytest.mark.parametrize("argv, commas, mixed", [
    (["eval", "--checkpoint", "m", "--scales", "0.5", "1", "2"], ["--scales", "0.5,1,2"], ["--scales", "0.5,", "1", "2"]),
    (["predict", "--checkpoint", "m", "--input", "i", "--out", "o", "--window", "256", "320"], ["--window", "256,320"], ["--window", "256,", "320"]),
    (["train", "--crop-size", "64", "80", "--train-scales", "0.5", "1"], ["--crop-size", "64,80", "--train-scales", "0.5,1"],
     ["--crop-size", "64, 80", "--train-scales", "0.5", ",1"]),
    (["train", "--scale-range", "0.5", "2", "--atrous-rates", "6", "12", "18"], ["--scale-range", "0.5,2", "--atrous-rates", "6,12,18"],
     ["--scale-range", "0.5,", "2", "--atrous-rates", "6,12", "18"]),
    (["autolabel", "--checkpoint", "m", "--input", "i", "--out", "o", "--sweep", "0.5", "0.9"], ["--sweep", "0.5,0.9"], ["--sweep", "0.5", "0.9,"]),
    (["demo", "--checkpoints", "a", "b"], ["--checkpoints", "a,b"], ["--checkpoints", "a,", "b"]),
    (["grid", "--config", "g", "--out", "o", "--only", "a", "b"], ["--only", "a,b"], ["--only", "a", ",b"]),
])
def test_comma_lists_parse_like_space_lists(parser, argv, commas, mixed):
    base = argv[:next(i for i, a in enumerate(argv) if a == commas[0])]
    spaced = vars(parser.parse_args(argv))
    assert vars(parser.parse_args(base + commas)) == spaced
    assert vars(parser.parse_args(base + mixed)) == spaced

def test_bad_value_is_one_line_and_a_traceback_under_debug():
    r = _run("eval", "--checkpoint", "m", "--scales", "0.5,one")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "argument --scales: expected numbers separated by spaces or commas, got 'one'" in r.stderr
    r = _run("--debug", "eval", "--checkpoint", "m", "--scales", "0.5,one")
    assert r.returncode == 2 and "Traceback" in r.stderr and "argument --scales" in r.stderr.splitlines()[-1]

def test_value_the_config_refuses_names_its_option(tmp_path):
    r = _run("train", "--batch-size", "0", "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr == "scaleattn train: error: argument --batch-size: batch_size must be >= 1, got 0\n"
    r = _run("train", "--batch-size", "0", "--out", str(tmp_path / "run"), "--debug")
    assert r.returncode == 2 and "Traceback" in r.stderr and r.stderr.splitlines()[-1].startswith("scaleattn train: error: argument --batch-size")

def test_missing_file_is_one_line():
    r = _run("eval", "--checkpoint", "/no/such/model.pt")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "/no/such/model.pt" in r.stderr and "Traceback" not in r.stderr
