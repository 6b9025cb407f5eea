"""Conformance: every surrogate gives braintools 0.3.0's numbers on every backend.

The reference values were produced by braintools itself (float32, default parameters); they
are not derived from spikegrad. Tolerance: relative 1e-6, plus absolute 1e-7 to absorb the
cancellation in braintools' own float32 arithmetic (e.g. its Sigmoid at x=2 is 4e-5 off in
relative terms, and its Fourier series gives -1.6e-8 where the exact value is 0).
"""

from __future__ import annotations

import numpy as np
import pytest

import spikegrad as sg

from .conftest import REFERENCE

RTOL, ATOL = 1e-6, 1e-7


def test_reference_covers_the_whole_catalogue():
    assert {sg.get(n).__class__.__name__ for n in sg.available()} == set(REFERENCE)
    assert len(REFERENCE) == 18


@pytest.mark.parametrize("cls_name", sorted(REFERENCE))
def test_matches_braintools(backend, cls_name):
    ref = REFERENCE[cls_name]
    surrogate = sg.get(cls_name)
    assert surrogate.params == pytest.approx(ref["params"])
    x = backend.array(ref["x"], "float64")

    spikes = surrogate(x)
    assert backend.dtype_name(spikes) == "float64"
    np.testing.assert_array_equal(backend.to_numpy(spikes), ref["forward"])
    np.testing.assert_allclose(
        backend.to_numpy(surrogate.surrogate_grad(x)), ref["grad"], rtol=RTOL, atol=ATOL
    )
    if ref["primitive"] is not None:
        np.testing.assert_allclose(
            backend.to_numpy(surrogate.surrogate_fun(x)), ref["primitive"], rtol=RTOL, atol=ATOL
        )


@pytest.mark.parametrize("cls_name", sorted(REFERENCE))
def test_functional_form_matches_braintools(cls_name):
    ref = REFERENCE[cls_name]
    cls = sg.get(cls_name).__class__
    fn = getattr(sg, cls.registry_name)
    x = np.asarray(ref["x"])
    np.testing.assert_array_equal(fn(x, **ref["params"]), ref["forward"])
    np.testing.assert_array_equal(fn(x), ref["forward"])
