"""The one exception type users see: the CLI prints its message on one line and exits with code 2."""


class TabaugError(Exception):
    """A user-facing error (bad input, bad config, missing file); the message names what is wrong."""


def warn(message: str) -> None:
    """A user-facing warning: one line on stderr, `tabaug: warning: <message>`."""
    import sys

    print(f"tabaug: warning: {message}", file=sys.stderr, flush=True)
