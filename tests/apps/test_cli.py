"""The ebgtn command: tour, info and draw on small files."""

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass

import pytest

import gtn
from apps._common.cli import add_options, config_from_args
from apps._common.guard import missing_extra
from apps.cli import main


def test_tour_matches_torch_ctc_loss(tmp_path, capsys, no_dot):
    assert main(["tour", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    ours, torchs = re.search(r"= ([\d.]+); torch ctc_loss says (\d+\.\d+)", out).groups()
    assert ours == torchs
    assert (tmp_path / "collapse.fst.txt").exists() and (tmp_path / "collapse.dot").exists()


def test_tour_without_graphviz_says_so_in_one_line_and_goes_on(tmp_path, capsys, no_dot):
    assert main(["tour", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    (line,) = [s for s in out.splitlines() if "picture" in s]
    assert "`dot` is not installed" in line and "install Graphviz: apt-get install graphviz" in line
    assert not (tmp_path / "collapse.svg").exists()


def test_tour_with_graphviz_draws_the_collapse_transducer(tmp_path, capsys, fake_dot):
    assert main(["tour", "--out", str(tmp_path)]) == 0
    assert f"as a picture: {tmp_path / 'collapse.svg'}" in capsys.readouterr().out
    assert (tmp_path / "collapse.svg").read_text().startswith("<?xml")


def graph_file(tmp_path):
    path = tmp_path / "g.txt"
    gtn.write_att(gtn.linear([0, 2], weights=[1.0, 2.5]), path)
    return path


def test_draw_without_graphviz_prints_one_line_and_exits_2(tmp_path, capsys, no_dot):
    assert main(["draw", str(graph_file(tmp_path)), "-o", str(tmp_path / "g.svg")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("ebgtn draw: cannot render")
    assert "install Graphviz: apt-get install graphviz" in captured.err


def test_draw_dot_text_needs_no_graphviz(tmp_path, capsys, no_dot):
    assert main(["draw", str(graph_file(tmp_path)), "-o", str(tmp_path / "g.dot")]) == 0
    assert (tmp_path / "g.dot").read_text().startswith("digraph FST {")


def test_draw_with_graphviz_renders_svg(tmp_path, capsys, fake_dot):
    assert main(["draw", str(graph_file(tmp_path)), "-o", str(tmp_path / "g.svg")]) == 0
    assert (tmp_path / "g.svg").read_text().startswith("<?xml")


def test_draw_to_an_unknown_format_is_a_one_line_error(tmp_path, capsys):
    assert main(["draw", str(graph_file(tmp_path)), "-o", str(tmp_path / "g.jpeg")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown extension '.jpeg'" in err


def test_info_describes_a_graph_file(tmp_path, capsys):
    path = tmp_path / "g.txt"
    gtn.write_att(gtn.linear([0, 2], weights=[1.0, 2.5]), path)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"states\s+3", out) and re.search(r"min energy\s+3.5", out)


def test_bad_file_gets_a_message_naming_file_and_line(tmp_path, capsys):
    path = tmp_path / "bad.txt"
    path.write_text("0 1 a\n")
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert "bad.txt" in err and "line 1" in err


def test_an_app_module_shows_its_own_command_in_usage(capsys):
    from apps.segmentation.cli import main as segment

    with pytest.raises(SystemExit):
        segment(["demo", "--help"])
    assert capsys.readouterr().out.startswith("usage: python -m apps.segmentation demo ")


@dataclass(frozen=True)
class _Settings:
    seed: int = 0
    patch: bool = True
    name: str = "x"
    extra: int = 1  # no option of this name


def test_options_set_the_config_fields_of_their_names_and_unset_ones_leave_them():
    parser = argparse.ArgumentParser()
    add_options(parser, [("--seed", int, None), ("--patch", bool, "a switch"), ("--name", str, "")])
    assert config_from_args(parser.parse_args(["--seed", "3"]), _Settings()) == _Settings(seed=3)
    given = config_from_args(parser.parse_args(["--patch", "--name", "y"]), _Settings(patch=False))
    assert given == _Settings(patch=True, name="y")


NO_SCIPY = """
import sys
sys.modules["scipy"] = None  # as if the apps extra were not installed: `import scipy` fails
from apps.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "argv, command",
    [
        (["check-reading", "--help"], "ebgtn check-reading"),
        (["check-reading", "train", "--out", "x"], "ebgtn check-reading"),
        (["speech", "demo"], "ebgtn speech"),
        (["segment", "demo"], "ebgtn segment demo"),  # its command line imports, its run does not
    ],
)
def test_without_the_apps_extra_an_app_says_what_to_install_in_one_line(tmp_path, argv, command):
    run = subprocess.run(
        [sys.executable, "-c", NO_SCIPY, *argv], capture_output=True, text=True, cwd=tmp_path
    )
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr == (
        f"{command}: needs the module 'scipy', part of the apps extra: pip install 'ebgtn[apps]'\n"
    )


def test_without_the_apps_extra_the_core_commands_work(tmp_path):
    path = graph_file(tmp_path)
    run = subprocess.run(
        [sys.executable, "-c", NO_SCIPY, "info", str(path)], capture_output=True, text=True
    )
    assert run.returncode == 0 and "min energy  3.5" in run.stdout


def test_a_missing_module_of_our_own_is_a_bug_with_its_traceback():
    assert missing_extra(ModuleNotFoundError("x", name="gtn.nothing")) is None
    assert missing_extra(ModuleNotFoundError("x", name="PIL.Image")).startswith(
        "needs the module 'PIL'"
    )


@pytest.mark.parametrize("command", ["demo", "train"])
def test_help_shows_the_defaults_of_the_configuration_a_run_changes(command, capsys):
    from apps.check_reading.experiment import DEMO, Config

    config = DEMO if command == "demo" else Config()
    with pytest.raises(SystemExit):
        main(["check-reading", command, "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert f"--train-fields TRAIN_FIELDS (default: {config.train_fields})" in text
    assert f"--local-epochs LOCAL_EPOCHS (default: {config.local_epochs})" in text
    assert f"(default: {','.join(config.losses)})" in text
    assert "(default: None)" not in text


def test_an_options_own_default_is_the_one_help_shows(capsys):
    with pytest.raises(SystemExit):
        main(["check-reading", "evaluate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "style (default 0: none)" in text and "none) (default:" not in text
