"""The one exception type users see: the CLI prints its message on one line and exits with code 2."""


class TabaugError(Exception):
    """A user-facing error (bad input, bad config, missing file); the message names what is wrong."""
