"""spikegrad check (spikegrad.tools.check): each backend checked under its own name; a user's
own surrogate verified as the catalogue is, from the command line and from Python."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import spikegrad as sg
from spikegrad import _surrogate
from spikegrad.tools import check
from spikegrad.tools.check import assert_verified, verify
from spikegrad.tools.cli import main

from ..conftest import SURROGATE_CLASSES
from ..test_api import _braintools_style


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
    assert all(not r["failures"] for r in rows), rows
    # every registered surrogate is counted: passed, or (a user's) not applicable
    assert all(r["passed"] == r["total"] == len(sg.available()) - len(r["not_applicable"])
               for r in rows), rows


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



def test_a_registered_user_surrogate_skips_published_values(cheap_checks):
    """A user's registered surrogate has no published values: the check does not apply to it
    (it used to fail with a KeyError), and every other check runs on it."""

    class Tent(sg.Surrogate, name="test_check_tent"):
        def grad(x, *, xp):
            return xp.clip(1.0 - xp.abs(x), min=0.0)

    try:
        rows = check.run()
        registered = len(sg.available())
    finally:
        _surrogate._REGISTRY.pop("test_check_tent", None)
    by_check = {r["check"]: r for r in rows}
    assert "Tent: no published values (not a catalogue entry)" in (
        by_check["published values"]["not_applicable"])
    assert "Tent: no primitive g" in by_check["g (array-api-strict)"]["not_applicable"]
    assert all(not r["failures"] for r in rows), rows
    assert by_check["vjp"]["total"] == registered


# ------------------------------------------------------------------ a user's own surrogate

USER_MODULE = '''
import numpy as np
import spikegrad as sg


class Laplace(sg.Surrogate):
    """A correct surrogate: the Laplace density and its distribution function."""
    alpha = sg.Param(2.0, gt=0, le=1e3)

    def grad(x, alpha, *, xp):
        return 0.5 * alpha * xp.exp(-alpha * xp.abs(x))

    def primitive(x, alpha, *, xp):
        tail = 0.5 * xp.exp(-alpha * xp.abs(x))
        return xp.where(x < 0, tail, 1.0 - tail)


LAPLACE_3 = Laplace(alpha=3.0)


def make_laplace():
    return Laplace(alpha=0.5)


class WrongDerivative(sg.Surrogate):
    """g' is 2 exp(-2|x|), but g is the primitive of exp(-|x|) / 2."""

    def grad(x, *, xp):
        return 2.0 * xp.exp(-2.0 * xp.abs(x))

    def primitive(x, *, xp):
        tail = 0.5 * xp.exp(-xp.abs(x))
        return xp.where(x < 0, tail, 1.0 - tail)


class Overflows(sg.Surrogate):
    """1 / cosh(x)**2 written naively: exp overflows for |x| > 89 in float32, inf / inf."""

    def grad(x, *, xp):
        c = xp.exp(x) + xp.exp(-x)
        return 4.0 * c / (c * c * c)


class InfiniteInFloat16(sg.Surrogate):
    """Peaks at 1e6, beyond float16's largest number (65504): finite in float32 only."""

    def grad(x, *, xp):
        return 1.0 / xp.square(1e-3 + xp.abs(x))


class NanAtZero(sg.Surrogate):
    """exp(-|x|) times x / x: NaN at 0 only."""

    def grad(x, *, xp):
        return xp.exp(-xp.abs(x)) * (x / x)


class MethodStyle(sg.Surrogate):
    """braintools' style, with NumPy code: runs on NumPy arrays (and float32 tensors)."""

    def __init__(self, alpha=2.0):
        super().__init__()
        self.alpha = alpha

    def surrogate_grad(self, x):
        return 0.5 * self.alpha * np.exp(-self.alpha * np.abs(x))

    def surrogate_fun(self, x):
        tail = 0.5 * np.exp(-self.alpha * np.abs(x))
        return np.where(x < 0, tail, 1.0 - tail)
'''

FAST = {"backends": ["numpy", "array_api"], "compile": False, "samples": 32}


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """The name of a module of a user's surrogates, importable from ``tmp_path``."""
    pytest.importorskip("array_api_strict")
    name = "spikegrad_test_user_surrogates"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(USER_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    yield name
    sys.modules.pop(name, None)


def statuses(report: check.Report) -> dict[str, str]:
    return {f"{r.group}: {r.check}": r.status for r in report.results}


def failed(report: check.Report) -> list[str]:
    return [r.check for r in report.failures]


def test_a_correct_user_surrogate_passes(user_module):
    report = verify(f"{user_module}:Laplace", **FAST)
    assert report.ok, report
    assert report.surrogate == "Laplace(alpha=2.0)"
    got = statuses(report)
    assert got["numpy: published values"] == "skipped"  # no published values: not a failure
    for name in ("g' is the derivative of g", "finite (float16)", "finite (float32)",
                 "finite (float64)", "accuracy (float16)", "accuracy (float32)"):
        assert got[f"properties: {name}"] == "pass"
    assert got["array_api: g (array-api-strict)"] == "pass"
    assert got["kernels: CUDA source generated"] == "pass"
    assert str(report).splitlines()[-1] == report.summary()
    assert json.loads(report.to_json())["ok"] is True
    assert assert_verified(f"{user_module}:Laplace", **FAST).ok


def test_targets_name_a_class_an_object_or_a_factory(user_module):
    assert repr(check.resolve(f"{user_module}:Laplace")) == "Laplace(alpha=2.0)"
    assert repr(check.resolve(f"{user_module}:LAPLACE_3")) == "Laplace(alpha=3.0)"
    assert repr(check.resolve(f"{user_module}:make_laplace")) == "Laplace(alpha=0.5)"
    assert check.resolve("sigmoid") == sg.Sigmoid()
    assert check.resolve(sg.Arctan) == sg.Arctan()
    assert repr(check.resolve("snntorch.atan")) == repr(sg.get("snntorch.atan"))
    with pytest.raises(ValueError, match="has no attribute 'Nope'"):
        check.resolve(f"{user_module}:Nope")
    with pytest.raises(TypeError, match="not a surrogate"):
        check.resolve(f"{user_module}:np")


def test_g_prime_not_the_derivative_of_g_fails(user_module):
    report = verify(f"{user_module}:WrongDerivative", **FAST)
    assert failed(report) == ["g' is the derivative of g"]
    assert "g' is not the derivative of g: at x =" in str(report)
    with pytest.raises(AssertionError, match="1 of .* checks FAILED .*: properties: g' is the "
                                             "derivative of g"):
        assert_verified(f"{user_module}:WrongDerivative", **FAST)


def test_inf_or_nan_for_a_finite_float32_input_fails(user_module):
    report = verify(f"{user_module}:Overflows", **FAST)
    assert {"finite (float32)", "finite (float64)"} <= set(failed(report))
    assert "grad is not finite in float32 at x = [ 3.40282347e+38" in str(report)
    assert statuses(report)["properties: g' is the derivative of g"] == "n/a"  # no g


def test_not_finite_in_float16_only_fails_float16(user_module):
    report = verify(f"{user_module}:InfiniteInFloat16", **FAST)
    assert "finite (float16)" in failed(report)
    got = statuses(report)
    assert got["properties: finite (float32)"] == got["properties: finite (float64)"] == "pass"


def test_nan_at_one_point_fails_as_not_finite_not_as_inaccurate(user_module):
    """The accuracy rows compare where the reference is a number: with its NaN in the scale,
    every point failed there, blaming accuracy for what the finite rows report."""
    report = verify(f"{user_module}:NanAtZero", **FAST)
    got = statuses(report)
    assert {"finite (float32)", "finite (float64)"} <= set(failed(report))
    assert got["properties: accuracy (float32)"] == "pass"
    assert "grad is not finite in float32 at x = [ 0." in str(report)


def test_braintools_style_checks_that_cannot_apply_are_not_failures(user_module):
    """NumPy code runs in float64 (its properties are checked) but has no formula for CUDA, nor
    (NumPy has no bfloat16) runs on bfloat16 tensors."""
    report = verify(f"{user_module}:MethodStyle", backends=["numpy"], compile=False, samples=32)
    assert report.ok, report
    got = statuses(report)
    assert got["properties: g' is the derivative of g"] == "pass"  # NumPy code: float64
    assert got["properties: finite (float16)"] == "pass"
    assert got["kernels: CUDA source generated"] == "n/a"
    assert "no xp formula to generate CUDA from" in str(report)
    if importlib.util.find_spec("torch") is not None:
        assert got["properties: finite (bfloat16)"] == "n/a"
        assert "does not run on bfloat16 tensors" in str(report)


def test_a_float32_braintools_style_surrogate_gets_an_accurate_second_derivative():
    """The documentation's braintools-style example (``jax.numpy`` methods, float64 off: g' in
    float32) passes: its g'' reference, by differences of that float32 g', is accurate enough
    (a step of 1e-5 left a percent of error, and failed ``hessian (g'')``)."""
    surrogate = _braintools_style()(alpha=2.0)
    reference = check.reference(surrogate)
    np.testing.assert_allclose(reference["grad2"], -2.0 * np.sin(check.X), rtol=1e-5, atol=1e-6)
    report = verify(surrogate, backends=["jax"], compile=False, samples=32)
    assert report.ok, report
    assert statuses(report)["jax: hessian (g'')"] == "pass"


def test_the_command_verifies_user_surrogates(user_module, tmp_path):
    """``python -m spikegrad check module:Class ... --json`` from the module's directory: one
    report per target, exit status 1 when one fails, the failing check named."""
    result = subprocess.run(
        [sys.executable, "-m", "spikegrad", "check", f"{user_module}:Laplace",
         f"{user_module}:WrongDerivative", "--json", "--backend", "numpy", "--no-compile",
         "--samples", "32"],
        check=False, capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    good, bad = json.loads(result.stdout)
    assert good["target"] == f"{user_module}:Laplace" and good["ok"] is True
    assert bad["ok"] is False
    assert [(r["group"], r["check"]) for r in bad["results"] if r["status"] == "fail"] == [
        ("properties", "g' is the derivative of g")]


def test_the_command_prints_a_readable_report(user_module, capsys):
    assert main(["check", f"{user_module}:Laplace", "--backend", "numpy", "--no-compile"]) == 0
    out = capsys.readouterr().out
    assert "spikegrad check Laplace(alpha=2.0)" in out
    assert "published values               skipped  no published values" in out
    assert out.rstrip().endswith("all checks passed (1 surrogate)")
    assert main(["check", f"{user_module}:InfiniteInFloat16", "--backend", "numpy",
                 "--no-compile"]) == 1
    out = capsys.readouterr().out
    assert "finite (float16)               FAIL     grad is not finite in float16" in out
    assert out.rstrip().endswith(f"FAILED: {user_module}:InfiniteInFloat16")


@pytest.mark.parametrize(("argv", "message"), [
    (["check", "no_such_module_here:Cls"], "No module named 'no_such_module_here'"),
    (["check", "sigmiod"], "unknown surrogate 'sigmiod'"),
])
def test_an_unknown_target_is_one_error_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("spikegrad check: error:") and message in err


def test_a_target_that_raises_or_exits_is_one_error_line(tmp_path, monkeypatch, capsys):
    """A class whose constructor raises (a traceback before) and a module that calls
    ``sys.exit(0)`` on import (exit 0 and no report before: a pass, to a CI script)."""
    (tmp_path / "spikegrad_test_raising.py").write_text(textwrap.dedent('''
        import spikegrad as sg

        class InitRaises(sg.Surrogate):
            def __init__(self):
                super().__init__()
                self.a = 1 / 0

            def surrogate_grad(self, x):
                return x * 0 + 1
        '''))
    (tmp_path / "spikegrad_test_exiting.py").write_text("import sys\nsys.exit(0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        for target, message in (("spikegrad_test_raising:InitRaises",
                                 "InitRaises() raised ZeroDivisionError: division by zero"),
                                ("spikegrad_test_exiting:X",
                                 ("importing spikegrad_test_exiting (spikegrad_test_exiting:X) "
                                  "raised SystemExit: 0"))):
            assert main(["check", target]) == 2
            err = capsys.readouterr().err
            assert err.startswith("spikegrad check: error:") and message in err, err
    finally:
        for name in ("spikegrad_test_raising", "spikegrad_test_exiting"):
            sys.modules.pop(name, None)


@pytest.mark.slow
def test_a_user_surrogate_on_every_backend_and_compiled(user_module):
    """Every installed backend and autodiff path, nvcc (where installed) and the C++ kernels."""
    report = verify(f"{user_module}:Laplace", samples=32)
    assert report.ok, report
    got = statuses(report)
    assert got["kernels: C++ kernels match NumPy (CPU)"] in ("pass", "skipped")
    assert got["kernels: CUDA source compiles (nvcc)"] in ("pass", "skipped")


# ------------------------------------------------------------------ the catalogue itself


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_every_catalogue_surrogate_verifies(cls):
    """The checks a user runs pass on every catalogue entry (NumPy and array-api-strict here;
    every backend in the slow test below, and every entry's kernels compiled for the CPU in
    tests/test_codegen.py)."""
    pytest.importorskip("array_api_strict")
    report = assert_verified(cls, **FAST)
    assert statuses(report)["numpy: published values"] == "pass"


@pytest.mark.slow
@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_every_catalogue_surrogate_verifies_everywhere(cls):
    # Their kernels compiled for the CPU: tests/test_codegen.py; verify's compiling path:
    # test_a_user_surrogate_on_every_backend_and_compiled.
    assert_verified(cls, samples=32, compile=False)


@pytest.mark.parametrize(("target", "status", "detail"), [
    ("snntorch.atan", "pass", ""),
    ("spikingjelly.S2NN", "pass", ""),
    (sg.compat.norse.surrogate("heavi_erfc_fn", k=1.0), "pass", ""),  # params by position
    # snntorch's gradient is 0 at x == 0 where its documentation (and spikegrad) say 1
    ("snntorch.heaviside", "skipped", "snntorch's code departs from its documentation here"),
    ("snntorch.LSO", "skipped", "none measured of snntorch's LSO"),  # snntorch's raises
])
def test_another_librarys_spelling_is_compared_with_its_measured_outputs(target, status, detail):
    """spikegrad check snntorch.atan compares with snntorch's own outputs (peers-1.0.json);
    it used to skip them as "not a catalogue entry"."""
    report = verify(target, backends=["numpy"], compile=False, samples=8)
    (result,) = [r for r in report.results if r.check == "published values"]
    assert (result.status, detail in result.detail) == (status, True), result


def test_a_wrong_spelling_fails_against_the_measured_outputs(monkeypatch):
    """The comparison can fail: a compat class whose numbers were not snntorch's."""
    s = sg.get("snntorch.atan")
    case = check.published_values(type(s))
    monkeypatch.setattr(check, "published_values",
                        lambda cls: {**case, "grad": [2 * g for g in case["grad"]]})
    report = verify(s, backends=["numpy"], compile=False, samples=8)
    assert "published values" in [r.check for r in report.failures]


def test_a_user_surrogate_without_a_reference_is_not_failed_on_published_values():
    """Published values exist only for catalogue entries: a user's surrogate whose NumPy
    reference fails fails its own checks, not that one (it was reported as failed)."""
    class Raises(sg.Surrogate):
        def grad(x, *, xp):
            raise ZeroDivisionError("the user's bug")

    report = verify(Raises(), backends=["numpy"], compile=False, samples=8)
    assert statuses(report)["numpy: published values"] == "skipped"
    assert not report.ok and "ZeroDivisionError" in str(report)


@pytest.mark.parametrize("samples", [0, -3, 2.5, True, check.MAX_SAMPLES + 1, 10**9])
def test_a_bad_number_of_samples_is_refused_not_blamed_on_the_surrogate(samples):
    """A negative --samples used to fail the surrogate's property checks ("negative dimensions
    are not allowed"), as if the formula were at fault."""
    with pytest.raises(ValueError, match=rf"samples={samples!r}: pass a whole number of random"):
        verify(sg.Arctan(), backends=[], samples=samples, compile=False)


def test_the_command_line_names_a_bad_number_of_samples(capsys):
    assert main(["check", "arctan", "--samples", "-3", "--no-compile"]) == 2
    err = capsys.readouterr().err
    assert "spikegrad check: error: samples=-3: pass a whole number of random inputs" in err
