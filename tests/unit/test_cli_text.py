"""The ``lepton`` CLI and ``%lepton`` magics: readable text by default, ``--json`` on every
command, help everywhere, and placeholders that read the same in every subsystem."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lepton_jupyter import cli
from lepton_jupyter.magics import LeptonMagics

# Commands whose output is not data: a demo transcript, a server.
NOT_DATA = {"demo", "registry serve"}


def leaf_commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield " ".join(path), parser
        return
    for name, sub in subparsers[0].choices.items():
        yield from leaf_commands(sub, (*path, name))


LEAVES = dict(leaf_commands(cli.build_parser()))


@pytest.mark.parametrize("command", sorted(set(LEAVES) - NOT_DATA))
def test_every_command_takes_json(command: str):
    assert any("--json" in a.option_strings for a in LEAVES[command]._actions), command


@pytest.mark.parametrize("command", sorted(LEAVES))
def test_placeholders_are_capitals_and_verbs_are_actions(command: str):
    usage = LEAVES[command].format_usage()
    positionals = [a for a in LEAVES[command]._actions if not a.option_strings]
    for action in positionals:
        assert action.metavar and action.metavar == action.metavar.upper(), (command, usage)
    top = cli.build_parser().format_usage()
    assert "COMMAND" in top
    nested = cli.build_parser(command.split()[0])
    for action in nested._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                for inner in sub._actions:
                    if isinstance(inner, argparse._SubParsersAction):
                        assert inner.metavar == "ACTION", command


def test_a_registry_object_prints_as_text_and_as_json_on_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    # Given a published version
    model = tmp_path / "weights.bin"
    model.write_bytes(b"\0" * 64)
    assert cli.main(["registry", "publish", "team/net", str(model), "--json"]) == 0
    published = json.loads(capsys.readouterr().out)
    assert published["version"] == 1
    # When its lineage is asked for, it reads as one field per line
    assert cli.main(["registry", "lineage", "team/net:1"]) == 0
    text = capsys.readouterr().out
    assert not text.lstrip().startswith("{")
    assert any(line.split()[:2] == ["name", "team/net"] for line in text.splitlines()), text
    # And as JSON with --json
    assert cli.main(["registry", "lineage", "team/net:1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "team/net"
    # And fsck too
    assert cli.main(["registry", "fsck"]) == 0
    assert not capsys.readouterr().out.lstrip().startswith("{")
    assert cli.main(["registry", "fsck", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mismatches"] == []


def test_magic_help_lists_subcommands_and_shows_the_clis_arguments(
    capsys: pytest.CaptureFixture[str],
):
    magics = LeptonMagics(shell=None)
    # %lepton --help: every subcommand with what it does
    assert magics.lepton("--help") is None
    usage = capsys.readouterr().out
    for name in ("attach", "launch", "registry", "runs", "status"):
        assert f"\n  {name} " in usage, usage
    # %lepton runs rerun --help: the arguments, as `lepton runs rerun --help` has them
    magics.lepton("runs rerun --help")
    rerun = capsys.readouterr().out
    assert "usage: %lepton runs rerun" in rerun and "RUN_ID" in rerun and "--from-copy" in rerun
    # %lepton attach -h: what it takes
    magics.lepton("attach -h")
    assert "URL PATH" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "message"),
    [("{oops", "Parameters are not valid JSON: "), ("[1]", "Parameters must be a JSON object")],
)
def test_json_parameters_that_are_not_an_object_are_refused_naming_them(text, message):
    from lepton_jupyter.errors import Invalid
    from lepton_jupyter.runs.rerunner import parse_parameters

    # Given `lepton runs rerun --parameters-json` text that is not a JSON object
    # Then nothing runs, and the error says which option was wrong
    with pytest.raises(Invalid, match=message):
        parse_parameters(["lr=0.1"], text)
    # And a JSON object is read, name=value pairs overriding it
    assert parse_parameters(["lr=0.1"], '{"lr": 1, "seed": 2}') == {"lr": 0.1, "seed": 2}
