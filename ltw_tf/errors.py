"""One-line error messages: what the command line and the library's re-raised errors show of a caught error."""

from __future__ import annotations


def first_line(err: BaseException, default: str | None = None) -> str:
    """The first line of ``err``'s message (a TensorFlow op error's own ``message``, without its op trace);
    ``default`` (else the error's type name) when it has none."""
    text = str(getattr(err, "message", None) or err).strip()
    return text.splitlines()[0] if text else (default or type(err).__name__)
