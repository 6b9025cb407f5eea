"""The PyTorch adapter under every transform and mode, for the whole registry."""

from __future__ import annotations

import copy
import functools
import inspect
import io
import math
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import spikegrad as sg
from spikegrad import _contract

from spikegrad.tools.verify import PLAN_ULPS, eps

from .conftest import SURROGATE_CLASSES, assert_within_ulps, inverse_power_reference

torch = pytest.importorskip("torch")
from torch.func import functional_call, grad, jacfwd, jacrev, jvp, vmap  # noqa: E402

X = np.array([-2.5, -1.2, -0.3, 0.0, 0.4, 0.9, 1.7, 3.0])
SMOOTH = X[X != 0]  # g' of several surrogates has a kink at 0: no g'' there


def reference(cls, x=X):
    s = cls()
    return s.surrogate_grad(x), s.surrogate_fun(x)


def second_derivative(cls, x, h=1e-5):
    gp = cls().surrogate_grad
    return (gp(x + h) - gp(x - h)) / (2 * h)


def t(values=X, dtype=torch.float64, requires_grad=False):
    return torch.tensor(values, dtype=dtype, requires_grad=requires_grad)


def assert_close(actual, desired, rtol=1e-12, atol=1e-12):
    actual = actual.detach().to(torch.float64).numpy() if isinstance(actual, torch.Tensor) else actual
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol)


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_autograd_eager_and_double_backward(cls):
    f = cls()
    gp, _ = reference(cls)
    x = t(requires_grad=True)
    out = f(x)
    assert_close(out, X >= 0)
    out.sum().backward()
    assert_close(x.grad, gp)

    xs = t(SMOOTH, requires_grad=True)
    (first,) = torch.autograd.grad(f(xs).sum(), xs, create_graph=True)
    # A piecewise-constant g' (LeakyRelu, ...) does not depend on x: autograd then records no
    # graph for it, which is PyTorch's way of saying g'' = 0.
    second = torch.autograd.grad(first.sum(), xs)[0] if first.requires_grad else torch.zeros_like(xs)
    assert_close(second, second_derivative(cls, SMOOTH), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_torch_func_transforms(cls):
    f = cls()
    gp, _ = reference(cls)
    x = t()
    assert_close(vmap(grad(f))(x), gp)
    assert_close(torch.diag(jacrev(f)(x)), gp)
    assert_close(torch.diag(jacfwd(f)(x)), gp)
    out, tangent = jvp(f, (x,), (torch.full_like(x, 3.0),))
    assert_close(out, X >= 0)
    assert_close(tangent, 3 * gp)
    assert_close(vmap(grad(grad(f)))(t(SMOOTH)), second_derivative(cls, SMOOTH), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_forward_ad(cls):
    import torch.autograd.forward_ad as fwad

    gp, _ = reference(cls)
    with fwad.dual_level():
        dual = fwad.make_dual(t(), torch.full_like(t(), 2.0))
        assert_close(fwad.unpack_dual(cls()(dual)).tangent, 2 * gp)
        # PyTorch takes a tangent of another dtype: float32 x, float64 tangent.
        x32 = t().float()
        dual = fwad.make_dual(x32, torch.full_like(x32, 2.0, dtype=torch.float64))
        tangent = fwad.unpack_dual(cls()(dual)).tangent
        assert_close(tangent.double(), 2 * gp, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_origin_mode_and_checkpoint(cls):
    from torch.utils.checkpoint import checkpoint

    gp, g = reference(cls)
    f = cls(origin=True)
    x = t(requires_grad=True)
    assert_close(f(x), g)
    (dx,) = torch.autograd.grad(f(x).sum(), x)
    assert_close(dx, gp)
    spike = cls()
    y = checkpoint(lambda v: spike(v) * 2.0, x, use_reentrant=False)
    (dx,) = torch.autograd.grad(y.sum(), x)
    assert_close(dx, 2 * gp)


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_parameters_get_no_gradient(cls):
    params = {
        p.name: torch.tensor(float(p.default), dtype=torch.float64, requires_grad=not p.integer)
        for p in cls._params
    }
    f = cls(**params)
    assert f == cls()  # tensors are read once at construction
    x = t(requires_grad=True)
    f(x).sum().backward()
    assert all(v.grad is None for v in params.values())


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_dtypes_kept_and_accurate(cls, dtype):
    dt = getattr(torch, dtype)
    x = t(dtype=dt, requires_grad=True)
    f = cls()
    out = f(x)
    out.sum().backward()
    outs = [out, x.grad, f.surrogate_grad(x.detach()), f.surrogate_fun(x.detach()), f.vjp(x.detach(), x.detach())]
    assert all(o.dtype == dt and o.device == x.device for o in outs)
    x64 = x.detach().to(torch.float64).numpy()
    gp, g = reference(cls, x64)
    for got, ref in ((x.grad, gp), (outs[3], g)):
        assert_within_ulps(got.to(torch.float64).numpy(), ref, dtype)


def test_autocast_bfloat16():
    f = sg.Sigmoid()
    linear = torch.nn.Linear(8, 8, dtype=torch.float32)
    x = torch.randn(4, 8, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = linear(x)
        out = f(h)
    assert h.dtype == torch.bfloat16 and out.dtype == torch.bfloat16
    out.float().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_adapter_operations_are_called_as_the_contract_says():
    """The adapter's ``spike`` and ``fun`` are ``_apply`` itself (no frame of their own), kept
    static: a bare ``functools.partial`` on a class is bound as a method from Python 3.14 on
    (the adapter passed as the spec) and warns on 3.13. Every operation of the contract is a
    plain method or a static one, and takes ``(spec, x)`` through the instance."""
    from spikegrad.backends import _torch

    adapter = _torch.ADAPTER
    assert isinstance(adapter, _contract.Adapter)
    for name in ("accepts", "spike", "fun", "grad", "vjp"):
        attribute = inspect.getattr_static(type(adapter), name)
        assert not isinstance(attribute, functools.partial), name
    spec = sg.Sigmoid(alpha=2.0).spec
    x = torch.tensor([-1.0, 0.0, 2.0])
    assert adapter.spike(spec, x).tolist() == [0.0, 1.0, 1.0]
    torch.testing.assert_close(adapter.fun(spec, x), torch.sigmoid(2.0 * x))


def test_vjp_refuses_a_cotangent_on_another_device():
    """(The compiled loop would read a meta or CUDA cotangent as CPU memory.)"""
    with pytest.raises(ValueError, match="cotangent is on meta and x on cpu; pass a cotangent"):
        sg.Sigmoid().vjp(torch.ones(3), torch.ones(3, device="meta"))


def test_rejects_non_floating():
    with pytest.raises(TypeError, match="got dtype torch.int64.*x.float"):
        sg.sigmoid(torch.arange(3))


# --------------------------------------------------------------------------- torch.compile


@pytest.mark.parametrize(
    "forced, classes",
    [(False, [sg.Sigmoid, sg.SquarewaveFourierSeries, sg.QPseudoSpike, sg.S2NN,
              sg.MultiGaussianGrad, sg.LeakyRelu]),
     (True, [sg.Sigmoid, sg.SquarewaveFourierSeries, sg.LeakyRelu])],
    ids=["auto", "set_backend"],
)
def test_compile_fullgraph(forced, classes):
    """g, the spike and ``surrogate_grad`` in one ``torch.compile(fullgraph=True)`` graph, and
    the compiled backward, for surrogates of each structure (hooks, a whole-number parameter,
    several parameters, piecewise). Every catalogue entry compiles, forward and backward, in
    ``spikegrad check`` (tests/tools/test_check.py)."""
    if forced:
        sg.set_backend("torch")
    for cls in classes:
        torch._dynamo.reset()  # the same code objects for every class: no recompile limit
        f, fo = cls(), cls(origin=True)

        def forward(x):
            return f(x) + fo(x) + f.surrogate_grad(x)

        x = t(requires_grad=True)
        # fullgraph=True: a graph break is an error that names it
        compiled = torch.compile(forward, fullgraph=True, backend="aot_eager")
        assert_close(compiled(x.detach()), forward(x.detach()).detach().numpy(), rtol=1e-12)
        xc = t(requires_grad=True)
        out = torch.compile(lambda v: f(v) * v + fo(v), fullgraph=True, backend="aot_eager")(xc)
        out.sum().backward()
        gp, g = reference(cls)
        assert_close(xc.grad, gp * X + (X >= 0) + gp)


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
def test_compile_with_dynamic_shapes_calls_a_surrogate_twice(cls):
    """``torch.compile(dynamic=True)`` of a graph that calls one surrogate twice (two layers,
    a recurrent loop) and its ``surrogate_grad``: Dynamo makes the formulas' Python floats
    symbolic there, and before they were read in the root graph first, the second call's
    backward stopped the compilation (``lift_tracked_freevar_to_input should not be called on
    root SubgraphTracer``). Gradients against the NumPy reference."""
    torch._dynamo.reset()
    f = cls()

    def forward(v):
        return f(v) + f(0.5 * v) + f.surrogate_grad(v)

    x = t(requires_grad=True)
    compiled = torch.compile(forward, fullgraph=True, dynamic=True, backend="aot_eager")
    out = compiled(x)
    assert_close(out, (X >= 0) * 1.0 + (0.5 * X >= 0) + reference(cls)[0])
    torch.compile(lambda v: f(v) + f(0.5 * v), fullgraph=True, dynamic=True,
                  backend="aot_eager")(x).sum().backward()
    assert_close(x.grad, reference(cls)[0] + 0.5 * reference(cls, 0.5 * X)[0])


@pytest.mark.parametrize("name", ["sigmoid", "q_pseudo_spike_unit_area"])
def test_compile_with_dynamic_shapes_trains_a_layer_called_twice(name):
    """A ``Spike`` layer with a trained parameter, called twice under
    ``torch.compile(dynamic=True)``: its clamp bounds are computed when the class is made (their
    float32 rounding recursed in Dynamo's ``struct`` polyfill), and the gradients of ``x`` and
    of the raw parameter are those of eager mode (which the trainable tests check against
    finite differences), that of ``x`` also the NumPy reference's."""
    torch._dynamo.reset()
    param = next(p.name for p in type(sg.get(name))._params if not p.integer)
    layer = sg.nn.Spike(name, trainable=(param,)).double()

    def forward(v):
        return layer(v) + layer(0.5 * v)

    grads = []
    for fn in (torch.compile(forward, fullgraph=True, dynamic=True, backend="aot_eager"),
               forward):
        x = t(requires_grad=True)
        layer.zero_grad()
        fn(x).sum().backward()
        grads.append((x.grad, *(p.grad.clone() for p in layer.parameters())))
    for compiled, eager in zip(*grads):
        assert_close(compiled, eager.numpy(), rtol=1e-12)
    learned = layer.surrogate.replace(trainable=())  # (alpha as exp of its float32 raw value)
    assert_close(grads[0][0], learned.surrogate_grad(X) + 0.5 * learned.surrogate_grad(0.5 * X),
                 rtol=1e-9)


@pytest.mark.parametrize("cls", [c for c in SURROGATE_CLASSES if c._params])
def test_compile_with_a_parameter_argument_that_changes(cls):
    """A parameter passed to the compiled function as a Python number, with a new value at
    each call: after the first change Dynamo makes it a symbolic number, which the range check
    must trace (``math.isfinite`` of it stopped the compilation). Against NumPy float64."""
    torch._dynamo.reset()
    p = cls._params[0]
    compiled = torch.compile(
        lambda v, a: cls(**{p.name: a}).surrogate_grad(v) + cls(**{p.name: a})(v),
        fullgraph=True, backend="aot_eager")
    steps = (0, 1, 2) if p.integer else (1.0, 1.25, 1.5)
    for step in steps:
        a = p.default + step if p.integer else p.default * step
        want = cls(**{p.name: a}).surrogate_grad(X) + (X >= 0)
        assert_close(compiled(t(), a), want, rtol=1e-10, atol=1e-12)


def test_compile_refuses_a_parameter_argument_that_leaves_the_range():
    """Out of range once symbolic: the ``ValueError`` names the parameter and the range (its
    value cannot be formatted while Dynamo traces)."""
    torch._dynamo.reset()
    compiled = torch.compile(lambda v, a: sg.Sigmoid(alpha=a)(v), fullgraph=True,
                             backend="aot_eager")
    for a in (2.0, 3.0):
        assert_close(compiled(t(), a), (X >= 0) * 1.0)
    with pytest.raises(Exception, match=r"alpha is out of range .*allowed: 1e-30 <= alpha"):
        compiled(t(), -1.0)


def test_derivatives_lower_infinities_for_every_kind_of_tensor():
    """The guard that lowers +-inf in derivatives, and passes a NaN's gradient on, with no
    tensor constants: g' and g'' after a first call in inference mode, under FakeTensorMode, on
    the meta device, and under ``torch.func`` transforms called twice (kept 0-d bounds made
    inside a first transform broke the second: functorch's "level" assertion)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    s = sg.SoftSign()
    with torch.inference_mode():
        assert_close(s.surrogate_grad(t()), reference(sg.SoftSign)[0])
    for _ in range(2):
        assert_close(vmap(grad(grad(s)))(t()), second_derivative(sg.SoftSign, X), rtol=1e-6,
                     atol=1e-8)
    x = t(requires_grad=True)
    (first,) = torch.autograd.grad(s(x).sum(), x, create_graph=True)
    assert_close(torch.autograd.grad(first.sum(), x)[0], second_derivative(sg.SoftSign, X),
                 rtol=1e-6, atol=1e-8)
    ends = torch.tensor([-math.inf, math.inf, math.nan], dtype=torch.float64, requires_grad=True)
    (first,) = torch.autograd.grad(s(ends).sum(), ends, create_graph=True)
    second = torch.autograd.grad(first.sum(), ends)[0].tolist()
    assert second[:2] == [0.0, 0.0] and math.isnan(second[2])
    with FakeTensorMode():
        fake = torch.empty(5, dtype=torch.float64, requires_grad=True)
        (first,) = torch.autograd.grad(s(fake).sum(), fake, create_graph=True)
        assert torch.autograd.grad(first.sum(), fake)[0].shape == (5,)
    meta = torch.empty(5, device="meta", requires_grad=True)
    (first,) = torch.autograd.grad(s(meta).sum(), meta, create_graph=True)
    assert torch.autograd.grad(first.sum(), meta)[0].device.type == "meta"


def test_compile_adds_no_recompile_and_no_graph_input_for_the_floats_it_reads():
    """Static ``torch.compile`` of a graph calling a surrogate twice: one graph, whose only
    input is ``x`` (the root-graph read of the formulas' floats must not add inputs or guards
    on module state)."""
    torch._dynamo.reset()
    graphs = []

    def backend(gm, inputs):
        graphs.append([n.name for n in gm.graph.nodes if n.op == "placeholder"])
        return gm.forward

    s = sg.SoftSign()
    s(t())  # (a surrogate's first call makes its spec, which a trace would guard on)
    compiled = torch.compile(lambda v: s(v) + s(0.5 * v), fullgraph=True, backend=backend)
    for _ in range(4):
        x = t(requires_grad=True)
        compiled(x).sum().backward()
        assert_close(x.grad, reference(sg.SoftSign)[0] + 0.5 * reference(sg.SoftSign, 0.5 * X)[0])
    assert len(graphs) == 1 and len(graphs[0]) == 1, graphs


def test_nested_jagged_tensors_still_work():
    """A jagged nested tensor is not refused as sparse layouts are: spike and gradient against
    the dense reference of its parts."""
    a, b = torch.tensor([-1.0, 0.5], dtype=torch.float64), torch.tensor([2.0], dtype=torch.float64)
    nt = torch.nested.nested_tensor([a, b], layout=torch.jagged, requires_grad=True)
    s = sg.Sigmoid()
    out = s(nt)
    assert [p.tolist() for p in out.unbind()] == [[0.0, 1.0], [1.0]]
    out.sum().backward()
    for part, values in zip(nt.grad.unbind(), ([-1.0, 0.5], [2.0])):
        assert_close(part, s.surrogate_grad(np.asarray(values)))


def test_sparse_tensors_are_refused_with_what_to_pass():
    """COO and CSR inputs (and cotangents): a TypeError saying to pass a dense tensor, on every
    entry point, the trained layer's too (PyTorch's NotImplementedError for ``aten::ge`` or
    its "Sparse CSR tensors do not have is_contiguous" before)."""
    dense = t()
    s = sg.Sigmoid()
    layer = sg.nn.Spike("sigmoid", trainable=("alpha",)).double()
    for sparse in (dense.to_sparse(), dense.reshape(2, 4).to_sparse_csr()):
        for call in (s, s.surrogate_grad, s.surrogate_fun, sg.sigmoid, layer):
            with pytest.raises(TypeError, match=r"x is a torch\.sparse_\w+ tensor; .*to_dense"):
                call(sparse)
        with pytest.raises(TypeError, match=r"cotangent is a torch\.sparse_\w+ tensor"):
            s.vjp(dense.reshape(sparse.shape), sparse)


def test_compiled_code_does_not_depend_on_sys_modules():
    """Traced code never reads ``sys.modules``: Dynamo would copy the whole dictionary into
    the trace (failing it with "dictionary changed size during iteration" whenever another
    thread, such as the kernel loader, imported a module meanwhile: found in CI) and guard the
    compiled code on modules *not* being imported. Checked on the guards of the compiled code,
    for each way of calling a surrogate while Dynamo traces."""
    from spikegrad.compat import norse, snntorch, spikingjelly

    alpha = torch.nn.Parameter(torch.tensor(3.0))
    module = sg.nn.Spike(sg.Arctan(alpha=alpha))
    calls = {
        "functional": lambda v: sg.sigmoid(v, 2.0),
        "class": lambda v: sg.MultiGaussianGrad(sigma=0.5)(v) + sg.S2NN()(v),
        "module": module,
        "snntorch": lambda v: snntorch.atan(alpha=2.0)(v),
        "spikingjelly": lambda v: spikingjelly.Sigmoid()(v) + spikingjelly.heaviside(v),
        "norse": lambda v: norse.heaviside(v) + norse.super_fn(v),
    }
    for name, fn in calls.items():
        torch._dynamo.reset()
        explained = torch._dynamo.explain(fn)(t(requires_grad=True))
        guards = [str(g.name) for g in explained.out_guards]
        assert guards, name  # the explanation has guards to check
        assert not [g for g in guards if re.search(r"\bsys\b.*\bmodules\b", g)], (name, guards)
        assert explained.graph_break_count == 0, (name, explained.break_reasons)


def test_functional_forms_compile_once(monkeypatch):
    """The functional forms' cache of instances is not used while Dynamo traces: its change
    after the first call would fail a guard and recompile the code."""
    from torch._dynamo.testing import CompileCounter

    from spikegrad import _functional
    from spikegrad.compat import norse

    forms = {"catalogue": (lambda v: sg.arctan(v, 3.0), sg.Arctan(alpha=3.0)),
             "norse": (lambda v: norse.super_fn(v, 3.0), norse.surrogate("super_fn", alpha=3.0)),
             "norse_random": (lambda v: norse.logistic_fn(v, 3.0) + norse.circ_dist_fn(v, 3.0),
                              None)}  # random spikes: their gradient is checked elsewhere
    for name, (form, reference_surrogate) in forms.items():
        monkeypatch.setattr(_functional, "_instances", {})  # the first use of the values
        torch._dynamo.reset()
        counter = CompileCounter()
        compiled = torch.compile(lambda v, form=form: form(v) * v, backend=counter,
                                 fullgraph=True)
        for _ in range(3):
            x = t(requires_grad=True)
            compiled(x).sum().backward()
            if reference_surrogate is not None:
                spikes = reference_surrogate(X)
                assert_close(x.grad, reference_surrogate.surrogate_grad(X) * X + spikes)
        assert counter.frame_count == 1, name


@pytest.mark.slow
def test_first_call_inside_compile_in_a_fresh_process():
    """The adapter is loaded while Dynamo traces: nothing on that path may break the graph."""
    code = textwrap.dedent(
        """
        import torch, spikegrad as sg
        f = sg.QPseudoSpike()
        fn = lambda v: f(v) * v + sg.sigmoid(v)
        assert torch._dynamo.explain(fn)(torch.zeros(3)).graph_break_count == 0
        x = torch.linspace(-1, 1, 5, requires_grad=True)
        torch.compile(fn, fullgraph=True)(x).sum().backward()
        print(x.grad.tolist())
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    x = np.linspace(-1, 1, 5)
    expected = sg.QPseudoSpike().surrogate_grad(x) * x + (x >= 0) + sg.Sigmoid().surrogate_grad(x)
    np.testing.assert_allclose(eval(result.stdout), expected, rtol=1e-5, atol=1e-6)  # noqa: S307


@pytest.mark.slow
def test_compile_inductor_matches_eager():
    torch._dynamo.reset()
    f = sg.MultiGaussianGrad()
    x = torch.linspace(-3, 3, 1001, dtype=torch.float32, requires_grad=True)
    compiled = torch.compile(lambda v: f(v) * v, fullgraph=True)
    out = compiled(x)
    out.sum().backward()
    expected = f.surrogate_grad(x.detach().double()).numpy() * x.detach().double().numpy() + (x.detach().numpy() >= 0)
    assert_close(x.grad, expected, rtol=2e-5, atol=2e-6)


# ------------------------------------------------------------------------ module ergonomics


class Neuron(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)
        self.spike_fn = sg.S2NN(alpha=3.0)

    def forward(self, x):
        return self.spike_fn(self.fc(x) - 0.1)


def test_module_attribute_save_load_deepcopy(tmp_path):
    model = Neuron()
    x = torch.randn(5, 4)
    path = tmp_path / "model.pt"
    torch.save(model, path)
    loaded = torch.load(path, weights_only=False)
    assert loaded.spike_fn == model.spike_fn
    assert torch.equal(loaded(x), model(x))
    clone = copy.deepcopy(model)
    assert clone.spike_fn == sg.S2NN(alpha=3.0)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)


def test_nn_module_form_in_sequential():
    Spike = sg.nn.Spike  # (also: from spikegrad.nn import Spike)

    layer = Spike(sg.LeakyRelu(alpha=0.2))
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), layer)
    assert "LeakyRelu(alpha=0.2, beta=1.0)" in repr(net)
    x = torch.randn(2, 3, requires_grad=True)
    out = net(x)
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    out.sum().backward()
    assert x.grad is not None
    assert Spike("arctan", alpha=2.0).surrogate == sg.Arctan(alpha=2.0)
    with pytest.raises(TypeError, match="a Surrogate or a registered name"):
        Spike(3.0)


def test_functional_call():
    model = Neuron()
    params = {k: torch.zeros_like(v) for k, v in model.named_parameters()}
    out = functional_call(model, params, (torch.ones(2, 4),))
    # fc gives 0, minus 0.1 -> below threshold: no spikes
    assert torch.equal(out, torch.zeros(2, 3))


@pytest.mark.slow
def test_distributed_data_parallel_matches_single_process(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(textwrap.dedent(
        """
        import os, sys, torch, torch.distributed as dist, torch.multiprocessing as mp
        import spikegrad as sg

        def make():
            torch.manual_seed(0)
            return torch.nn.Sequential(torch.nn.Linear(6, 5), sg.nn.Spike(sg.Arctan(alpha=2.0)),
                                       torch.nn.Linear(5, 1))

        def data():
            g = torch.Generator().manual_seed(1)
            return torch.randn(8, 6, generator=g), torch.randn(8, 1, generator=g)

        def worker(rank, path):
            os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=os.environ["PORT"])
            dist.init_process_group("gloo", rank=rank, world_size=2)
            model = torch.nn.parallel.DistributedDataParallel(make())
            x, y = data()
            part = slice(rank * 4, rank * 4 + 4)
            loss = ((model(x[part]) - y[part]) ** 2).mean()
            loss.backward()
            if rank == 0:
                torch.save([p.grad for p in model.parameters()], path)
            dist.destroy_process_group()
            # Leave without running C++ static destructors: gloo's sometimes abort at exit
            # ("terminate called without an active exception"), after the work is done.
            os._exit(0)

        if __name__ == "__main__":
            path = sys.argv[1]
            mp.spawn(worker, args=(path,), nprocs=2)
            ddp = torch.load(path)
            model = make()
            x, y = data()
            # DDP averages the two half-batch gradients: the same as the full-batch mean loss
            ((model(x) - y) ** 2).mean().backward()
            for a, b in zip(ddp, [p.grad for p in model.parameters()]):
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
            assert any(g.abs().sum() > 0 for g in ddp[:2])
            print("ok")
        """
    ))
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "grads.pt")],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PORT": str(port)},
    )
    assert result.stdout.strip().endswith("ok"), result.stderr[-3000:]


# ------------------------------------------------------------------------- planned backward


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_planned_backward_equals_eager_and_reference(cls, dtype, monkeypatch):
    """The planned backward (whole and in blocks) gives the eager operations' numbers, up to
    the roundings its fused operations save (``1 + t*t`` with one rounding, ``(c v) / D``
    with two; PyTorch also computes the elements of a partial SIMD vector with its scalar
    functions, so block boundaries may move one element to the other implementation of
    ``exp2``): within 16 ulps of them, and no less accurate than they are against the NumPy
    float64 reference (below float64); it is what a plain backward pass runs."""
    from spikegrad import _config
    from spikegrad.backends import _torch_plan

    monkeypatch.setattr(_torch_plan, "BLOCK", 1 << 15)  # the logic of blocks, at a small size
    dt = getattr(torch, dtype)
    f = cls()
    n = 3 * _torch_plan.BLOCK + 5  # several blocks and a partial one
    x = torch.linspace(-4, 4, n, dtype=torch.float64).to(dt)
    x[:6] = torch.tensor([0.0, -0.0, float("inf"), -float("inf"), float("nan"), 1e30])
    ct = torch.linspace(-1, 1, n, dtype=torch.float64).to(dt)
    grads = {}
    for mode in ("off", "plan", "always"):
        xr = x.clone().requires_grad_()
        with _config.torch_fuse_mode(mode):
            (grads[mode],) = torch.autograd.grad(f(xr), xr, ct)
        assert grads[mode].dtype == dt
    assert _torch_plan.plan_for(f.spec.formula, f.spec.values, dt) is not None
    eager = grads["off"].to(torch.float64).numpy()
    nan = np.isnan(eager)
    x64 = x.to(torch.float64).numpy()
    with np.errstate(all="ignore"):
        reference = ct.to(torch.float64).numpy() * f.surrogate_grad(x64)
    finite = np.isfinite(reference)
    tiny = np.finfo("float32" if dtype == "bfloat16" else dtype).tiny
    ulp = eps(dtype) * np.maximum(np.abs(reference[finite]), tiny)  # in units of the dtype
    eager_error = np.max(np.abs(eager[finite] - reference[finite]) / ulp)
    for mode in ("plan", "always"):
        planned = grads[mode].to(torch.float64).numpy()
        np.testing.assert_array_equal(np.isnan(planned), nan)
        np.testing.assert_array_equal(planned[np.isinf(eager)], eager[np.isinf(eager)])
        assert_within_ulps(planned[finite], eager[finite], dtype, ulps=PLAN_ULPS)
        if dtype != "float64":  # (in float64 the reference is no more precise than eager)
            planned_error = np.max(np.abs(planned[finite] - reference[finite]) / ulp)
            assert planned_error <= eager_error + 1, (f, mode, planned_error, eager_error)
    assert_within_ulps(grads["always"].to(torch.float64).numpy()[finite], reference[finite], dtype,
                       ulps=64)


@pytest.mark.parametrize("mode", ["auto", "plan", "always"])
@pytest.mark.parametrize("shape", [(37, 53), (700, 600)])  # one block; several and a partial one
def test_planned_backward_of_strided_tensors(mode, shape, monkeypatch):
    """Transposed (non-contiguous) x and cotangent, smaller and larger than a block: the plan
    (which serves them in mode "auto" too: compiled kernels take contiguous tensors) flattens
    them into its scratch buffers and gives the reference's numbers in x's shape."""
    from spikegrad import _config
    from spikegrad.backends import _torch_plan

    monkeypatch.setattr(_torch_plan, "BLOCK", 1 << 17)

    rng = np.random.default_rng(0)
    base = rng.normal(0, 3, shape[::-1])
    cbase = rng.normal(0, 1, shape[::-1])
    f = sg.Sigmoid(alpha=2.0)  # a plan with a scratch buffer
    x = torch.tensor(base, dtype=torch.float32).t().requires_grad_()
    ct = torch.tensor(cbase, dtype=torch.float32).t()
    assert not x.is_contiguous()
    with _config.torch_fuse_mode(mode):
        (got,) = torch.autograd.grad(f(x), x, ct)
    assert got.shape == shape
    x64 = x.detach().double().numpy()
    expected = ct.double().numpy() * f.surrogate_grad(x64)
    assert_within_ulps(got.double().numpy(), expected, "float32", ulps=64)


def test_planned_backward_in_concurrent_threads():
    """The scratch buffers are per thread: backward passes running at once in several threads
    each get their own numbers (those of a pass run alone)."""
    import threading

    from spikegrad import _config
    from spikegrad.backends import _torch_plan

    f = sg.Sigmoid()
    n = 2 * _torch_plan.BLOCK + 7
    inputs = [torch.linspace(-6 + k, 6 - k, n) for k in range(4)]

    def backward(x):
        x = x.clone().requires_grad_()
        return torch.autograd.grad(f(x), x, torch.ones_like(x))[0]

    with _config.torch_fuse_mode("always"):
        alone = [backward(x) for x in inputs]
    for x, grad in zip(inputs, alone):
        assert_within_ulps(grad.double().numpy(), f.surrogate_grad(x.double().numpy()),
                           "float32", ulps=64)
    results: dict[int, torch.Tensor] = {}

    def work(k):
        with _config.torch_fuse_mode("always"):
            for _ in range(5):
                results[k] = backward(inputs[k])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for k in range(4):
        torch.testing.assert_close(results[k], alone[k], rtol=0, atol=0)


@pytest.mark.parametrize("f", [sg.LeakyRelu(alpha=0.1, beta=1.0), sg.LeakyRelu(alpha=0.0),
                               sg.Rect(), sg.PiecewiseLeakyRelu(c=0.01, w=0.5),
                               sg.SparseFastSigmoid(), sg.SparseFastSigmoid(cutoff=-0.5),
                               sg.LogTailedRelu(), sg.LogTailedRelu(alpha=0.1),
                               sg.FakeNumericalGradient()])
def test_piecewise_plans_select_with_a_float_mask(f):
    """A where of two numbers, or a comparison the math casts to floats, becomes a comparison
    into floats (no boolean buffer, no torch.where) with the numbers of PyTorch's eager
    evaluation and of NumPy at the branch points, on both sides of a threshold, for NaN, inf
    and -0.0."""
    from spikegrad.backends import _torch_plan

    plan = _torch_plan.plan_for(f.spec.formula, f.spec.values, torch.float32)
    assert plan.booleans == 0 and "torch.where" not in plan.source, plan.source
    x = torch.tensor([-1.0, -0.5, -1e-30, -0.0, 0.0, 1e-30, 0.5, 1.0, 0.5000001, float("nan"),
                      float("inf"), -float("inf")])
    ct = torch.linspace(-2, 2, x.numel())
    xr = x.clone().requires_grad_()
    (planned,) = torch.autograd.grad(f(xr), xr, ct)
    eager = ct * f.surrogate_grad(x)
    torch.testing.assert_close(planned, eager, rtol=0, atol=0, equal_nan=True)
    reference = ct.numpy() * f.surrogate_grad(x.numpy())  # NumPy: where, isnan
    np.testing.assert_array_equal(planned.numpy(), reference)


@pytest.mark.parametrize(("f", "calls", "fused"), [
    (sg.Arctan(), 3, ["torch.addcmul(k", "torch.addcdiv(_zero, v,"]),
    (sg.Arctan(alpha=2.0), 3, ["torch.addcmul(k", "torch.div(v,"]),
    (sg.InvSquareGrad(), 4, ["torch.add(k", "alpha="]),
    (sg.SparseFastSigmoid(), 6, ["alpha="]),
    (sg.Sigmoid(), 7, ["torch.addcmul(k"]),
    (sg.S2NN(), 11, ["torch.lerp("]),
    (sg.LeakyRelu(), 6, ["torch.clamp(x, min="]),
    (sg.QPseudoSpike(), 6, [".log1p_()"]),
    (sg.SquarewaveFourierSeries(), 11, [".floor_()"]),
])
def test_plans_fuse_sums_choices_and_the_nan_pass(f, calls, fused):
    """The plan's fused calls (a sum that cannot cancel as one fused multiply-add, the final
    scaled quotient as one addcdiv, the math's masked choice between finite branches as one
    lerp, NaN passed through by one clamp) are there, with the number of calls they leave,
    and the results are those of the float64 reference to the roundings of float32."""
    import re

    from spikegrad.backends import _torch_plan

    plan = _torch_plan.plan_for(f.spec.formula, f.spec.values, torch.float32)
    made = re.findall(r"torch\.\w+\(|\.\w+_\(", plan.source)
    assert len(made) == calls, plan.source
    for call in fused:
        assert call in plan.source, plan.source
    x = torch.tensor([-1e30, -30.0, -1.0, -0.3, -1e-30, -0.0, 0.0, 1e-30, 0.3, 1.0, 30.0, 1e30,
                      float("nan"), float("inf"), -float("inf")])
    ct = torch.linspace(-2, 2, x.numel())
    xr = x.clone().requires_grad_()
    (planned,) = torch.autograd.grad(f(xr), xr, ct)
    reference = ct.double().numpy() * f.surrogate_grad(x.double().numpy())
    np.testing.assert_array_equal(np.isnan(planned.numpy()), np.isnan(reference))
    finite = np.isfinite(reference)
    assert_within_ulps(planned.double().numpy()[finite], reference[finite], "float32", ulps=8)


@pytest.mark.parametrize("cls", [sg.QPseudoSpike, sg.QPseudoSpikeUnitArea])
@pytest.mark.parametrize("alpha", [0.5, 1.02, 1.5, 1.51, 2.0, 8.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_inverse_powers_where_their_base_overflows(cls, alpha, dtype):
    """(1 + 2|x|/d)^-alpha for |x| up to the dtype's largest number and inf, where 2|x|/d
    overflows: one log1p for alpha above 1.5 (there the value is below the smallest subnormal
    number), the overflow-free two for alpha up to 1.5 (a number there) and for a trained
    alpha. NumPy, the eager operations and the planned backward match the value computed in
    logarithms in float64."""
    from spikegrad.backends import _torch_plan

    if cls is sg.QPseudoSpikeUnitArea and alpha <= 1:
        pytest.skip("the unit-area form needs alpha > 1")
    np_dtype = {torch.float32: np.float32, torch.float64: np.float64}[dtype]
    info = np.finfo(np_dtype)
    f = cls(alpha=alpha)
    d = alpha + 1.0 if cls is sg.QPseudoSpike else alpha - 1.0
    x = np.asarray([0.3, 1e6, float(info.max) / 64, float(info.max) / 3, float(info.max), np.inf],
                   dtype=np_dtype)
    a = x.astype(np.float64)
    expected, log_base = inverse_power_reference(a, alpha, d)  # an underflow rounds to 0 here too
    if alpha == 0.5:  # a normal number where 2|x|/d overflows
        assert (expected[2:5] > float(info.tiny)).all()
    tiny = float(info.tiny)  # below, results may lose all digits (as everywhere)
    allowed = np.where(np.isinf(a), 0.0,
                       16 * float(info.eps) * (1 + alpha * np.minimum(log_base, 1e4)) * expected)
    allowed += tiny
    xt = torch.tensor(x, dtype=dtype)
    eager = f.surrogate_grad(xt).numpy()
    plan = _torch_plan.plan_for(f.spec.formula, f.spec.values, dtype)
    planned = _torch_plan.times_derivative(plan, torch.ones_like(xt), xt, "always").numpy()
    trained = cls(alpha=torch.tensor(alpha, dtype=dtype, requires_grad=True))
    for got in (f.surrogate_grad(x), eager, planned, trained.surrogate_grad(xt).detach().numpy()):
        assert got.dtype == np_dtype
        assert (np.abs(got.astype(np.float64) - expected) <= allowed).all(), (got, expected)


@pytest.mark.parametrize("f", [sg.SquarewaveFourierSeries(),
                               sg.SquarewaveFourierSeries(t_period=0.5),
                               sg.SquarewaveFourierSeries(n=3, t_period=2.0**-6)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_remainders_by_powers_of_two_are_floored_exactly(f, dtype):
    """The periodic surrogate's phase, |x| mod a power of two from 1 on, is planned as
    ``t - c floor(t / c)`` (PyTorch's CPU remainder takes as long as its cosine): every step is
    exact, so the planned backward is the eager one bit for bit, at huge, infinite and NaN x
    too."""
    from spikegrad.backends import _torch_plan

    plan = _torch_plan.plan_for(f.spec.formula, f.spec.values, dtype)
    assert ".floor_()" in plan.source, plan.source  # a period below 1: floored mod 128 T
    assert ("remainder" in plan.source) == (f.t_period < 1), plan.source
    generator = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(3000, generator=generator, dtype=dtype) * scale
                   for scale in (1.0, 1e3, 1e7, 1e20)])
    special = [0.0, -0.0, 8.0, -8.0, 7.999, 1e-30, float(torch.finfo(dtype).max),
               float("inf"), -float("inf"), float("nan")]
    x = torch.cat([x, torch.tensor(special, dtype=dtype)])
    v = torch.linspace(-2, 2, x.numel(), dtype=dtype)
    planned = _torch_plan.times_derivative(plan, v, x, "always")
    eager = v * f.surrogate_grad(x)
    torch.testing.assert_close(planned, eager, rtol=0, atol=0, equal_nan=True)
    reference = f.surrogate_grad(x.double().numpy())  # NumPy: an exact remainder
    np.testing.assert_array_equal(np.isnan(planned.numpy()), np.isnan(reference))
    assert np.isnan(reference[-3:]).all() and np.isfinite(reference[:-3]).all()
    if dtype == torch.float64:  # the same phase as NumPy's: g' to the roundings of a cosine
        peak = float(np.abs(reference[:-3]).max())
        np.testing.assert_allclose(planned.numpy()[:-3], v.numpy()[:-3] * reference[:-3],
                                   rtol=0, atol=1e-13 * 2 * peak)


class _Sawtooth(sg.Surrogate):
    """A user's surrogate with remainders of x itself and of |x| (by a power of two from 1 on,
    planned floored, and below 1, planned as PyTorch's remainder: t / c would overflow)."""

    period = sg.Param(8.0, gt=0, le=1e6, doc="period")

    @staticmethod
    def grad(x, period, *, xp):
        a = xp.remainder(xp.abs(x), 0.5 * period)
        r = xp.remainder(x, period)  # x's last use
        return r * xp.cos(r) + a


@pytest.mark.parametrize("period", [8.0, 0.5])
def test_a_floored_remainder_never_writes_over_x_or_overflows(period):
    """The plan's floored remainder keeps its operand's buffer while it reads it, and x (the
    caller's tensor) is never a buffer of the plan; a divisor below 1 keeps PyTorch's
    remainder, whose t / c cannot overflow to -inf."""
    from spikegrad.backends import _torch_plan

    f = _Sawtooth(period=period)
    plan = _torch_plan.plan_for(f.spec.formula, f.spec.values, torch.float32)
    assert ("floor_" in plan.source) == (period >= 2) and "out=x" not in plan.source, plan.source
    assert ("remainder" in plan.source) == (period < 2), plan.source
    values = [-3.0, 0.5, 2.0, 9.0, 1e30, -3e38, 3e38]
    x = torch.tensor(values, requires_grad=True)
    (planned,) = torch.autograd.grad(f(x), x, torch.ones(len(values)))
    assert x.tolist() == torch.tensor(values).tolist()
    eager = f.surrogate_grad(torch.tensor(values))
    torch.testing.assert_close(planned, eager, rtol=0, atol=0)
    assert torch.isfinite(planned).all()


class _Lorentz(sg.Surrogate):
    """A user's surrogate whose denominator is below 1 near 0 (no addcdiv for it)."""

    gamma = sg.Param(1e-3, gt=0, le=1.0, doc="half width")

    @staticmethod
    def grad(x, gamma, *, xp):
        return (gamma / math.pi) / (x * x + gamma * gamma)


def test_the_scaled_quotient_is_fused_only_where_it_cannot_underflow():
    """(c v) / D is one addcdiv only where D >= 1 by its form; a small denominator keeps
    v * (c / D), whose c v would underflow (to a subnormal, or 0) for tiny cotangents."""
    from spikegrad.backends import _torch_plan

    f = _Lorentz(gamma=1e-4)
    plan = _torch_plan.plan_for(f.spec.formula, f.spec.values, torch.float32)
    assert "addcdiv" not in plan.source, plan.source
    x = torch.tensor([0.0, 1e-5, 3e-5, 1e-4, 1e-3])
    ct = torch.full_like(x, 1e-36)
    xr = x.clone().requires_grad_()
    (planned,) = torch.autograd.grad(f(xr), xr, ct)
    reference = 1e-36 * f.surrogate_grad(x.double().numpy())
    assert_within_ulps(planned.double().numpy(), reference, "float32", ulps=8)


def test_batched_cotangents_of_the_older_vmap():
    """torch.autograd.grad(is_grads_batched=True) and jacobian(vectorize=True) batch the
    cotangent with PyTorch's older vmap, which takes no out= arguments: the plain
    operations run instead of the plan."""
    x = torch.linspace(-2, 2, 7, dtype=torch.float64, requires_grad=True)
    for cls in SURROGATE_CLASSES:
        f = cls()
        diagonal = torch.diag(torch.from_numpy(f.surrogate_grad(x.detach().numpy())))  # NumPy
        (rows,) = torch.autograd.grad(f(x), x, torch.eye(7, dtype=x.dtype),
                                      is_grads_batched=True)
        torch.testing.assert_close(rows, diagonal, equal_nan=True)
        jacobian = torch.autograd.functional.jacobian(f, x.detach(), vectorize=True)
        torch.testing.assert_close(jacobian, diagonal, equal_nan=True)


def test_trained_tensor_values_are_not_kept_by_the_plan_cache():
    """A surrogate with trained tensor values is evaluated with the plain operations, and its
    spec (holding those tensors) is not kept alive as a cache key."""
    import gc
    import weakref

    alpha = torch.tensor(2.0, requires_grad=True)
    gone = weakref.ref(alpha)
    f = sg.Arctan(alpha=alpha, trainable=("alpha",))
    with torch.no_grad():
        got = f.vjp(torch.linspace(-1, 1, 5), torch.ones(5))
    torch.testing.assert_close(got, sg.Arctan(alpha=2.0).surrogate_grad(torch.linspace(-1, 1, 5)))
    del f, alpha
    gc.collect()
    assert gone() is None


@pytest.mark.parametrize("alpha", [4.0, 0.25, 3.0])
def test_sigmoid_plan_folds_a_power_of_two_into_the_exponent(alpha):
    """exp(-|alpha x| / 2) is one exp2 of |x| times a constant when alpha is a power of two
    (scaling by it rounds nothing): one call fewer, and the eager numbers either way (to the
    rounding the fused ``1 + h*h`` saves)."""
    from spikegrad.backends import _torch_plan

    f = sg.Sigmoid(alpha=alpha)
    plan = _torch_plan.plan_for(f.spec.formula, f.spec.values, torch.float32)
    folded = math.frexp(alpha)[0] == 0.5
    assert ("torch.mul(x," not in plan.source) == folded, plan.source
    x = torch.tensor([-100.0, -30.0, -1.0, -1e-30, -0.0, 0.0, 1e-30, 0.7, 30.0, 100.0,
                      3e38, float("nan"), float("inf"), -float("inf")])
    ct = torch.linspace(-2, 2, x.numel())
    xr = x.clone().requires_grad_()
    (planned,) = torch.autograd.grad(f(xr), xr, ct)
    torch.testing.assert_close(planned, ct * f.surrogate_grad(x), rtol=4 * 2.0**-23, atol=0,
                               equal_nan=True)
    x64 = x.double().numpy()
    finite = np.isfinite(x64)
    reference = ct.double().numpy() * f.surrogate_grad(x64)  # NumPy, float64
    assert_within_ulps(planned.double().numpy()[finite], reference[finite], "float32", ulps=64)


@pytest.mark.parametrize("cls", SURROGATE_CLASSES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_second_derivative_is_a_number_at_zero_tiny_huge_and_infinite_x(cls, dtype):
    """g'' (double backward through the math) at 0, tiny, subnormal, huge and infinite x is a
    number: the limit 0 at +-inf, no 0 * inf from an intermediate that overflows (``t * t``
    with t = inf); the finite difference at an ordinary point. (The square wave has no limit at
    +-inf: its g' is NaN there, and so is g''.)"""
    f = cls()
    x = torch.tensor([0.0, 1e-30, 1e-40, 3e38, -3e38, float("inf"), -float("inf"), 0.3],
                     dtype=dtype, requires_grad=True)
    (g2,) = torch.autograd.grad(f.surrogate_grad(x).sum(), x, allow_unused=True)
    if g2 is None:  # piecewise constant: g'' = 0
        return
    periodic = isinstance(f, sg.SquarewaveFourierSeries)
    assert not torch.isnan(g2[:5 if periodic else 7]).any(), g2
    if not periodic:
        assert g2[5] == 0 and g2[6] == 0
    if isinstance(f, (sg.QPseudoSpike, sg.QPseudoSpikeUnitArea)):
        d = 1.0 if isinstance(f, sg.QPseudoSpike) else -1.0
        assert g2[1].item() == pytest.approx(-2 * f.alpha / (f.alpha + d), rel=1e-6)
    h = 1e-6
    numeric = (f.surrogate_grad(np.asarray(0.3 + h)) - f.surrogate_grad(np.asarray(0.3 - h))) / (
        2 * h)
    assert g2[7].item() == pytest.approx(float(numeric), rel=1e-4, abs=1e-6)


def test_inference_mode_first_then_training(monkeypatch):
    """The plan's constants and scratch buffers, made on first use in inference mode, are
    ordinary tensors: a later backward pass outside it can write into them (mode "plan": in
    mode "auto" a compiled kernel may serve either call, a few ulps away)."""
    from spikegrad import _config
    from spikegrad.backends import _torch, _torch_plan

    _config.set_torch_fuse("plan")  # (reset after each test by conftest)
    monkeypatch.setattr(_torch_plan, "_plans", {})
    monkeypatch.setattr(_torch_plan, "_scratch", _torch_plan._Scratch())
    monkeypatch.setattr(_torch, "_zero", [])
    f = sg.Sigmoid(alpha=1.5)
    x = torch.linspace(-5, 5, _torch_plan.BLOCK + 3)
    with torch.inference_mode():
        spikes = f(x)
        inferred = f.vjp(x, torch.ones_like(x))
    xr = x.clone().requires_grad_()
    (trained,) = torch.autograd.grad(f(xr), xr, torch.ones_like(xr))
    torch.testing.assert_close(trained, inferred, rtol=0, atol=0)
    torch.testing.assert_close(f(xr).detach(), spikes, rtol=0, atol=0)
    np.testing.assert_allclose(trained.numpy(), f.surrogate_grad(x.double().numpy()), rtol=1e-5)


def test_dispatch_modes_take_the_plain_operations():
    """Under a dispatch mode (FlopCounterMode here; FakeTensorMode in test_adversarial) the
    adapter makes no constant or buffer of its own: the plain operations, counted by the mode,
    give the reference's numbers, and the planned path still works afterwards."""
    from torch.utils.flop_counter import FlopCounterMode

    f = sg.Sigmoid(alpha=3.0)
    for _ in range(2):  # in the mode, then again (the mode left nothing behind)
        with FlopCounterMode(display=False):
            x = t(requires_grad=True)
            (inside,) = torch.autograd.grad(f(x), x, torch.ones_like(x))
        assert_close(inside, f.surrogate_grad(X))
        x = t(requires_grad=True)
        (outside,) = torch.autograd.grad(f(x), x, torch.ones_like(x))
        assert_close(outside, f.surrogate_grad(X))


def test_planned_backward_needs_no_compiler(monkeypatch, recwarn):
    """No compilation anywhere on the eager path: it works, silently, without torch.compile."""
    from spikegrad import _config
    from spikegrad.backends import _torch_plan

    def no_compiler(*args, **kwargs):
        raise AssertionError("torch.compile called on the eager path")

    monkeypatch.setattr(torch, "compile", no_compiler)
    monkeypatch.setattr(_torch_plan, "_plans", {})
    f = sg.Arctan(alpha=3.0)
    with _config.torch_fuse_mode("always"):
        x = t(requires_grad=True)
        (first,) = torch.autograd.grad(f(x).sum(), x)
    assert_close(first, f.surrogate_grad(X))
    assert (f.spec, torch.float64, "cpu") in _torch_plan._plans
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_formulas_the_planner_cannot_follow_are_evaluated_eagerly():
    """A braintools-style surrogate (methods on the array) and a formula branching on array
    values get no plan; their backward is the eager evaluation."""
    from spikegrad import _config
    from spikegrad.backends import _torch_plan

    class Branchy(sg.Surrogate):
        @staticmethod
        def grad(x, *, xp):
            return x * 0.0 + 2.0 if bool(xp.abs(x).max() > 100) else xp.abs(x) + 1.0

    class MethodStyle(sg.Surrogate):
        def surrogate_grad(self, x):
            return x * x

    for f, expected in ((Branchy(), np.abs(X) + 1.0), (MethodStyle(), X * X)):
        assert _torch_plan.plan_for(f.spec.formula, f.spec.values, torch.float64) is None
        x = t(requires_grad=True)
        with _config.torch_fuse_mode("always"):
            (dx,) = torch.autograd.grad(f(x).sum(), x)
        assert_close(dx, expected)


def test_fuse_mode_is_validated():
    result = subprocess.run(
        [sys.executable, "-c", "import torch, spikegrad as sg; sg.sigmoid(torch.zeros(2))"],
        capture_output=True, text=True, env={**os.environ, "SPIKEGRAD_TORCH_FUSE": "yes"},
        timeout=300,
    )
    assert "SPIKEGRAD_TORCH_FUSE='yes' is not valid; choose one of auto, always, plan, off" in result.stderr


def test_functional_form_with_tensor_parameters_uses_each_value():
    """Tensors hash by identity, which a new tensor may reuse: they must never hit a cache."""
    from spikegrad import _functional

    for a in (1.0, 2.0, 3.0, 2.0):
        alpha = torch.tensor(a, dtype=torch.float64)
        x = t(requires_grad=True)
        sg.arctan(x, alpha).sum().backward()
        assert_close(x.grad, sg.Arctan(alpha=a).surrogate_grad(X))
        del alpha
    assert not any(isinstance(v, torch.Tensor) for key in _functional._instances for v in key[1])
