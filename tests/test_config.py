"""Profile figures, synthetic songs and settings."""

from __future__ import annotations

import pytest

from songscope.config import Settings, redact
from songscope.errors import UserError


def test_settings_precedence_and_redaction():
    env = {"SONGSCOPE_DB_URL": "sqlite:///env.db", "SONGSCOPE_SEED": "5"}
    assert Settings.load(env=env).db_url == "sqlite:///env.db"
    assert Settings.load(env=env).seed == 5
    assert Settings.load(env=env, db_url="sqlite:///flag.db").db_url == "sqlite:///flag.db"
    assert Settings.load(env={}).lake_url == "lake"
    assert redact("mysql+pymysql://root:pw@h/db") == "mysql+pymysql://root:***@h/db"
    assert redact("sqlite:///x.db") == "sqlite:///x.db"


def test_request_retention_comes_from_the_environment():
    assert Settings.load(env={"SONGSCOPE_KEEP_REQUESTS_DAYS": "7"}).keep_requests_days == 7
    assert Settings.load(env={}).keep_requests_days == 90


def test_the_names_weight_comes_from_the_environment_and_must_be_a_weight():
    assert Settings.load(env={}).name_context == 2.0  # on by default
    assert Settings.load(env={"SONGSCOPE_NAME_CONTEXT": "0"}).name_context == 0.0  # off
    assert Settings.load(env={"SONGSCOPE_NAME_CONTEXT": "0"}, name_context=0.5).name_context == 0.5
    for bad in ("two", "-1", "nan", "inf"):
        with pytest.raises(UserError, match=f"SONGSCOPE_NAME_CONTEXT must be a number >= 0 .*{bad!r}"):
            Settings.load(env={"SONGSCOPE_NAME_CONTEXT": bad})
