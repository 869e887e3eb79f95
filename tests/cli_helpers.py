"""Running the ``rnnrtl`` command line in-process and checking its one-line errors (importable
helper shared by the CLI and bad-input tests)."""

from click.testing import CliRunner

from rnnrtl.cli import cli

__all__ = ["invoke", "assert_user_error"]


def invoke(*args):
    """``rnnrtl ARGS...`` through click's CliRunner (arguments turned into strings)."""
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_user_error(result, *fragments):
    """``result`` is a user error: exit 2, no traceback, a last line ``Error: ...`` holding every
    fragment."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    message = result.output.strip().splitlines()[-1]
    assert message.startswith("Error: "), message
    for fragment in fragments:
        assert fragment in message, message
