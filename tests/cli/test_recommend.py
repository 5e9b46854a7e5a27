"""`songscope recommend`'s flags come from `RecommendOptions`' one declaration."""

from __future__ import annotations

import dataclasses

import pytest
import typer

from songscope.cli import app
from songscope.cli.recommend import options_from_flags
from songscope.errors import UserError
from songscope.recommend.options import RecommendOptions


def _parsed(*args: str) -> RecommendOptions:
    command = typer.main.get_command(app).commands["recommend"]
    with command.make_context("recommend", list(args)) as context:
        return options_from_flags(context.params)


def test_every_option_has_its_flag_with_its_default_and_help():
    command = typer.main.get_command(app).commands["recommend"]
    names = {param.name for param in command.params}
    assert {f.name for f in dataclasses.fields(RecommendOptions)} <= names
    helps = {param.name: param.help for param in command.params}
    for option in dataclasses.fields(RecommendOptions):
        assert option.metadata["help"].split(" (")[0][:30] in helps[option.name] or option.metadata["cli"].get("file")
    assert _parsed() == RecommendOptions()  # no flag: every default, as the API's


def test_flags_are_read_as_the_options_they_spell(tmp_path):
    known = tmp_path / "known.txt"
    known.write_text("Bastille - Pompeii\n4uLU6hMCjMI75M1A2tKUQC\n")
    options = _parsed("-n", "5", "--per-artist", "0", "--keep-versions", "--no-taste", "--exclude-artist", "Drake", "--exclude-artist", "Adele",
                      "--exclude-genre", "rock", "--popularity", "20..80", "--diversity", "0.5", "--cluster", "3", "--exclude-explicit",
                      "--exclude-seed-artists", "--known", str(known), "--where", "tempo < 120")
    assert options == RecommendOptions(n=5, per_artist=None, exclude_versions=False, taste=False, exclude_artists=("Drake", "Adele"),
                                       exclude_genres=("rock",), popularity=(20, 80), diversity=0.5, cluster=3, exclude_explicit=True,
                                       exclude_seed_artists=True, known=("Bastille - Pompeii", "4uLU6hMCjMI75M1A2tKUQC"), where="tempo < 120")


def test_bounds_come_from_the_declaration():
    with pytest.raises(typer.BadParameter):
        _parsed("-n", "501")
    with pytest.raises(typer.BadParameter):
        _parsed("--cluster", "-1")
    with pytest.raises(UserError, match="LOW..HIGH"):
        _parsed("--popularity", "lots")
