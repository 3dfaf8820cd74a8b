"""Errors that mean "bad input", as opposed to a bug in litesmith.

The CLI turns a ``UserError`` into exit code 2 and a one-line message; any
other exception is a bug (exit 1). Messages name the file, node or op and,
where there is one, what to do about it.
"""


class UserError(Exception):
    """Bad input: a file, graph, option or pipeline the user can fix."""


class ParseError(UserError):
    """Malformed text (IR, pipeline strings); the message carries file:line:col."""


class VerifyError(UserError):
    """A graph that breaks an IR rule; the message names the node."""
