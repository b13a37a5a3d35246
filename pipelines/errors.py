"""The one exception type the CLI turns into a one-line message instead of a traceback."""


class AssayError(Exception):
    """A problem with the user's input or environment, stated so they can fix it.

    The message names the file, row, option or table at fault. Anything else that escapes is
    a bug in assay and keeps its traceback.
    """
