"""The one exception type users see: a message that names what is wrong and how to fix it."""


def listed(names) -> str:
    """Names joined for a one-line message; a name with a newline or other control character is shown quoted."""
    return ", ".join(n if n.isprintable() else repr(n) for n in map(str, names))


class HeadstartError(Exception):
    """A problem with the user's input or environment, explained in one line with the fix.

    The CLI prints it without a traceback (unless ``--debug``); Python callers can catch it. Line breaks that come
    from the user's data (a file name, a CSV cell) are shown escaped, so the message stays on one line.
    """

    def __init__(self, message: str = "", *args: object) -> None:
        super().__init__(str(message).replace("\r", "\\r").replace("\n", "\\n"), *args)


class Interrupted(HeadstartError):
    """The user stopped a run (Ctrl-C); the message says how to continue it."""

    exit_code = 130
