"""The one error type that ends a run with exit code 2 and a message instead of a traceback."""


class DiagError(Exception):
    """A usage or environment problem the user can fix: engine down, unknown network, bad image.

    The message is shown as is, so it must say what happened *and* what to do about it.
    """
