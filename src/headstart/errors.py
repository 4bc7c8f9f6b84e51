"""The one exception type users see: a message that names what is wrong and how to fix it."""


class HeadstartError(Exception):
    """A problem with the user's input or environment, explained in one line with the fix.

    The CLI prints it without a traceback (unless ``--debug``); Python callers can catch it.
    """


class Interrupted(HeadstartError):
    """The user stopped a run (Ctrl-C); the message says how to continue it."""

    exit_code = 130
