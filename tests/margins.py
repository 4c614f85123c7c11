"""Tolerance margins: assert a float comparison and, when asked, record how much of its tolerance it used.

``margin = max(observed / allowed)``: 1.0 is the edge of the tolerance. With ``LTW_MARGINS=FILE`` set, every
check appends one JSON line ``{"test", "check", "observed", "allowed", "margin", "setting"}`` to FILE
(``LTW_MARGINS_SETTING`` labels the run, e.g. ``TF_ENABLE_ONEDNN_OPTS=0``), so the table of worst margins per
test under kernel-changing settings is measured, not guessed (tests/margins_table.py runs and tabulates them).
"""

import json
import os

import numpy as np


def _record(check: str, observed: float, allowed: float, margin: float) -> None:
    path = os.environ.get("LTW_MARGINS")
    if not path:
        return
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
    row = dict(
        test=test,
        check=check,
        observed=observed,
        allowed=allowed,
        margin=margin,
        setting=os.environ.get("LTW_MARGINS_SETTING", ""),
    )
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def assert_within(check: str, observed, allowed) -> float:
    """Assert ``observed <= allowed`` elementwise (arrays broadcast); record and return the worst ratio."""
    observed, allowed = np.broadcast_arrays(np.asarray(observed, np.float64), np.asarray(allowed, np.float64))
    ratio = np.where(allowed > 0, observed / np.where(allowed > 0, allowed, 1.0), np.where(observed > 0, np.inf, 0.0))
    worst = int(np.argmax(ratio)) if ratio.size else 0
    margin = float(ratio.flat[worst]) if ratio.size else 0.0
    obs, alw = (float(a.flat[worst]) if a.size else 0.0 for a in (observed, allowed))
    _record(check, obs, alw, margin)
    assert np.all(observed <= allowed), f"{check}: observed {obs:.4g} > allowed {alw:.4g} (margin {margin:.3g})"
    return margin


def assert_close(check: str, actual, desired, *, rtol: float = 0.0, atol: float = 0.0) -> float:
    """``np.testing.assert_allclose`` semantics (``|a - d| <= atol + rtol |d|``), with the margin recorded."""
    actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
    return assert_within(check, np.abs(actual - desired), atol + rtol * np.abs(desired))


def ulps(*values) -> np.ndarray:
    """One rounding step of the larger magnitude among ``values`` (elementwise, in their own float type)."""
    dtype = np.result_type(*values)
    return np.spacing(np.max([np.abs(np.asarray(v, dtype)) for v in values], axis=0)).astype(np.float64)
