"""The base of every error a user can cause (bad data, a wrong path, a refused conversion).

The command line reports these as one clear message and exit status 1, without a traceback;
anything else escaping a command is a bug and keeps its traceback.
"""


class UserError(ValueError):
    """Something the user can fix; the message says what was wrong, where, and how to fix it."""
