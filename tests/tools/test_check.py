"""spikegrad check (spikegrad.tools.check): each backend checked under its own name."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import spikegrad as sg
from spikegrad.tools import check


@pytest.fixture
def cheap_checks(monkeypatch):
    """Only the NumPy and array-api-strict checks: the others are run by test_cli."""
    pytest.importorskip("array_api_strict")
    monkeypatch.setattr(check, "CHECKS", {k: check.CHECKS[k] for k in ("numpy", "array_api")})


@pytest.mark.parametrize("how", ["with-block", "set_backend"])
@pytest.mark.parametrize("outer", ["numpy", "torch", "cupy"])
def test_each_backend_is_checked_whatever_is_selected_outside(cheap_checks, outer, how):
    """The references are computed with numpy and each backend's checks under its own name,
    whatever is selected outside (set_backend takes the place of $SPIKEGRAD_BACKEND, which a
    subprocess test in test_cli covers). Nothing here computes under the outer selection: not
    even cupy, which is not installed here, is loaded."""
    if how == "set_backend":
        sg.set_backend(outer)
        context: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    else:
        context = sg.backend(outer)
    with context:
        rows = check.run()
        assert sg.get_backend() == outer  # the selection is left as it was
    assert [r["backend"] for r in rows] == ["numpy"] * 3 + ["array_api"] * 2
    assert all(r["passed"] == r["total"] == len(sg.available()) for r in rows), rows


def test_references_are_numpy_float64_under_any_selection():
    pytest.importorskip("torch")
    with sg.backend("torch"):
        ref = check.reference(sg.Sigmoid())
    assert set(ref) == {"grad", "fun", "grad2"}
    assert all(type(v) is np.ndarray and v.dtype == np.float64 for v in ref.values())


def test_checks_is_not_the_backend_tuple():
    """``check.CHECKS`` (checks by backend) is not ``sg.BACKENDS`` (the backend names)."""
    assert not hasattr(check, "BACKENDS")
    assert set(check.CHECKS) == set(sg.BACKENDS) - {"auto"}


def test_a_failure_names_the_surrogate_and_the_error(monkeypatch):
    def wrong(s, ref):
        return ref["grad"] + (1.0 if type(s) is sg.Arctan else 0.0), ref["grad"]

    monkeypatch.setattr(check, "CHECKS", {"numpy": (None, lambda: {"wrong": wrong})})
    (row,) = check.run()
    assert row["passed"] == row["total"] - 1
    (failure,) = row["failures"]
    assert failure.startswith("Arctan: AssertionError: Not equal to tolerance")
    assert "Arctan: AssertionError" in check.format_table([row])

