"""Errors the user can fix. Anything else is a bug and may show a traceback."""


class UserError(Exception):
    """A one-line message that says what is wrong and, where it can, what to do.

    exit_code follows the CLI convention: 2 for bad input (settings, flags),
    1 for a failed step.
    """

    exit_code = 1

    def __init__(self, message: str):
        # A one-line error is the contract: fold anything longer.
        super().__init__(" ".join(str(message).split()))


class SettingsError(UserError):
    exit_code = 2
