"""Errors the user can fix. Anything else is a bug and may show a traceback."""

import errno


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


def disk_full(err: BaseException | str) -> bool:
    """ENOSPC, or sqlite's way of saying it (doit's database); or an error's text that says so."""
    text = str(err).lower()
    return getattr(err, "errno", None) == errno.ENOSPC or "no space left on device" in text or "disk is full" in text


def disk_full_message(err: BaseException | str) -> str:
    where = getattr(err, "filename", None)
    return (
        f"this machine's disk is full{f' (writing {where})' if where else ''}: {' '.join(str(err).split())}; "
        "free some space (`local-cluster clean --all` removes what we made) and run it again"
    )
