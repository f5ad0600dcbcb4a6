"""Settings come from CREDITS_* variables; GraphiQL and introspection default to loopback only."""

from __future__ import annotations

from app.settings import Settings


def test_defaults_serve_the_embedded_database_on_loopback_with_graphiql() -> None:
    settings = Settings.from_env({})
    assert (settings.database_url, settings.host, settings.port) == (
        "sqlite:///./credits.db",
        "127.0.0.1",
        8000,
    )
    assert (settings.graphiql, settings.introspection) == (True, True)


def test_graphiql_and_introspection_are_off_by_default_beyond_loopback() -> None:
    settings = Settings.from_env({"CREDITS_HOST": "0.0.0.0"})
    assert (settings.graphiql, settings.introspection) == (False, False)


def test_an_explicit_setting_wins_over_the_loopback_default() -> None:
    environ = {"CREDITS_HOST": "0.0.0.0", "CREDITS_GRAPHIQL": "true", "CREDITS_MAX_DEPTH": "9"}
    settings = Settings.from_env(environ)
    assert (settings.graphiql, settings.introspection, settings.max_depth) == (True, False, 9)


def test_command_line_overrides_win_over_the_environment() -> None:
    settings = Settings.from_env({"CREDITS_PORT": "9000"}, port=9100, host=None)
    assert (settings.port, settings.host) == (9100, "127.0.0.1")
