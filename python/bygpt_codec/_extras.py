"""Optional dependencies: a missing one is reported with the extra that
installs it, e.g. ``pip install "bygpt-codec[hf]"``, instead of a bare
``ModuleNotFoundError``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

# The top-level modules that extras install, and the extra to name for each.
OPTIONAL = {
    "torch": "model",
    "safetensors": "model",
    "transformers": "hf",
    "accelerate": "hf",
    "ray": "ray",
    "pyarrow": "ray",
    "datasets": "datasets",
    "megatron": "megatron",
}


def hint(error: ModuleNotFoundError, what: str, extra: str | None = None) -> ModuleNotFoundError:
    """The error to raise for ``error`` met while loading ``what``: with an
    install hint when the missing module is one an extra provides, else
    ``error`` itself (a genuinely broken installation is not ours to explain)."""
    top = (error.name or "").partition(".")[0]
    if top not in OPTIONAL:
        return error
    wanted = extra or OPTIONAL[top]
    message = f'{what} needs {top}, which is not installed: pip install "bygpt-codec[{wanted}]"'
    new = ModuleNotFoundError(message, name=error.name)
    new.__cause__ = error
    return new


@contextlib.contextmanager
def requires(what: str, extra: str | None = None) -> Iterator[None]:
    """Wraps optional imports: ``with requires("bygpt_codec.hf", "hf"): import transformers``."""
    try:
        yield
    except ModuleNotFoundError as e:
        raise hint(e, what, extra) from e
