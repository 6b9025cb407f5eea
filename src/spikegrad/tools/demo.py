"""Train a leaky integrate-and-fire network with a spikegrad surrogate, in JAX or PyTorch.

The network: 64 inputs (the 8x8 pixels of scikit-learn's bundled digits, no download) drive a
layer of LIF neurons as a constant current for ``steps`` time steps; their spikes drive a
leaky, non-spiking readout whose mean membrane potential over time gives the class scores.
Training is back-propagation through time with Adam; the spike's gradient is the surrogate's.

Both frameworks run the same model from the same initial weights (drawn with NumPy), so with
``framework="all"`` the first-step gradients can be compared: the same surrogate gives the
same numbers in two frameworks. Each framework runs under its own backend
(``spikegrad.backend(framework)``, which replaces a backend selected otherwise, valid or not);
``framework="auto"`` is the backend in force (``SPIKEGRAD_BACKEND``, ``set_backend``...) if it
is ``jax`` or ``torch``, else the first installed.

With ``train_surrogate=True`` the surrogate's shape is trained too: each of its non-structural
parameters (``alpha`` for ``arctan``) becomes a trained number in its unconstrained space
(:attr:`spikegrad.Param.space`: ``log_alpha`` for a positive parameter), updated by Adam with
the weights, with the straight-through parameter gradient ``sum(v * dg/dalpha)``; the learned
values are reported.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import time
from typing import Any, Callable

import numpy as np

from spikegrad.tools import _check_count, _check_writable

__all__ = ["DemoConfig", "load_digits_split", "initial_weights", "run_demo"]

FRAMEWORKS = ("jax", "torch")


@dataclasses.dataclass
class DemoConfig:
    surrogate: str = "arctan"
    hidden: int = 128
    steps: int = 8
    beta: float = 0.8  # membrane decay per time step
    threshold: float = 1.0
    epochs: int = 20
    batch: int = 64
    lr: float = 5e-3
    seed: int = 0
    train_surrogate: bool = False  # also train the surrogate's parameters (its shape)


def installed_frameworks() -> list[str]:
    return [f for f in FRAMEWORKS if importlib.util.find_spec(f) is not None]


def load_digits_split(seed: int = 0) -> tuple[np.ndarray, ...]:
    """Digits scaled to [0, 1], split 80/20, stratified: x_train, y_train, x_test, y_test."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    return x_tr, y_tr, x_te, y_te


def initial_weights(config: DemoConfig) -> dict[str, np.ndarray]:
    """The weights, and with ``train_surrogate`` the surrogate's raw (unconstrained) values."""
    rng = np.random.default_rng(config.seed)
    h = config.hidden
    weights = {
        "w1": (rng.standard_normal((64, h)) * (2.0 / np.sqrt(64))).astype(np.float32),
        "b1": np.zeros(h, np.float32),
        "w2": (rng.standard_normal((h, 10)) * (1.0 / np.sqrt(h))).astype(np.float32),
        "b2": np.zeros(10, np.float32),
    }
    for key, param in trained_parameters(config).values():
        weights[key] = np.asarray(param.to_raw(param.default), np.float32)
    return weights


def trained_parameters(config: DemoConfig) -> dict[str, tuple[str, Any]]:
    """The trained surrogate parameters: name -> (raw key, its :class:`~spikegrad.Param`);
    the key is ``log_<name>`` in log space, ``<name>`` in plain space (as in ``sg.nn.Spike``)."""
    if not config.train_surrogate:
        return {}
    import spikegrad as sg

    cls = type(sg.get(config.surrogate))
    return {p.name: (f"log_{p.name}" if p.space == "log" else p.name, p)
            for p in cls._params if not p.integer}


def make_surrogate(config: DemoConfig, params: dict[str, Any], xp: Any) -> Any:
    """The surrogate, with its trained parameters' values from the raw values in ``params``."""
    import spikegrad as sg

    trained = trained_parameters(config)
    if not trained:
        return sg.get(config.surrogate)
    values = {name: p.from_raw(params[key], xp=xp) for name, (key, p) in trained.items()}
    return sg.get(config.surrogate, **values, trainable=tuple(trained))


def learned_values(config: DemoConfig, params: dict[str, Any]) -> dict[str, float]:
    """The trained parameters' current values, as Python floats."""
    return {name: float(p.from_raw(np.asarray(params[key], np.float64), xp=np))
            for name, (key, p) in trained_parameters(config).items()}


def batches(n: int, size: int, epoch: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed + 1000 + epoch).permutation(n)
    return [order[i : i + size] for i in range(0, n, size)]


# --------------------------------------------------------------------------------- JAX


def _jax_trainer(config: DemoConfig) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp

    def forward(params: dict[str, Any], x: Any) -> Any:
        spike = make_surrogate(config, params, jnp)
        current = x @ params["w1"] + params["b1"]

        def step(carry: Any, _: Any) -> Any:
            v1, v2 = carry
            v1 = config.beta * v1 + current
            s1 = spike(v1 - config.threshold)
            v1 = v1 - s1 * config.threshold  # reset by subtraction
            v2 = config.beta * v2 + s1 @ params["w2"] + params["b2"]
            return (v1, v2), v2

        zeros = (jnp.zeros_like(current), jnp.zeros((x.shape[0], 10), x.dtype))
        _, readout = jax.lax.scan(step, zeros, None, length=config.steps)
        return readout.mean(axis=0)

    def loss_fn(params: dict[str, Any], x: Any, y: Any) -> Any:
        logits = forward(params, x)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))

    @jax.jit
    def train_step(params: Any, opt: Any, x: Any, y: Any) -> Any:
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        m, v, t = opt
        t = t + 1
        m = jax.tree.map(lambda a, g: 0.9 * a + 0.1 * g, m, grads)
        v = jax.tree.map(lambda a, g: 0.999 * a + 0.001 * g * g, v, grads)
        scale = config.lr * jnp.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        params = jax.tree.map(lambda p, a, b: p - scale * a / (jnp.sqrt(b) + 1e-8), params, m, v)
        return params, (m, v, t), loss

    accuracy = jax.jit(lambda p, x, y: jnp.mean(jnp.argmax(forward(p, x), -1) == y))

    def init(weights: dict[str, np.ndarray]) -> Any:
        params = {k: jnp.asarray(w) for k, w in weights.items()}
        zeros = jax.tree.map(jnp.zeros_like, params)
        return params, (zeros, zeros, jnp.zeros((), jnp.float32))

    def gradients(weights: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        params = {k: jnp.asarray(w) for k, w in weights.items()}
        return {k: np.asarray(g) for k, g in jax.grad(loss_fn)(params, x, y).items()}

    def step(state: Any, x: np.ndarray, y: np.ndarray) -> tuple[Any, float]:
        params, opt = state
        params, opt, loss = train_step(params, opt, x, y)
        return (params, opt), float(loss)

    return {"init": init, "step": step, "gradients": gradients,
            "accuracy": lambda state, x, y: float(accuracy(state[0], x, y)),
            "learned": lambda state: learned_values(config, state[0])}


# ------------------------------------------------------------------------------ PyTorch


def _torch_trainer(config: DemoConfig) -> dict[str, Any]:
    import torch

    def forward(params: dict[str, Any], x: Any) -> Any:
        spike = make_surrogate(config, params, torch)
        current = x @ params["w1"] + params["b1"]
        v1 = torch.zeros_like(current)
        v2 = torch.zeros(x.shape[0], 10)
        total = torch.zeros(x.shape[0], 10)
        for _ in range(config.steps):
            v1 = config.beta * v1 + current
            s1 = spike(v1 - config.threshold)
            v1 = v1 - s1 * config.threshold
            v2 = config.beta * v2 + s1 @ params["w2"] + params["b2"]
            total = total + v2
        return total / config.steps

    def loss_fn(params: dict[str, Any], x: Any, y: Any) -> Any:
        return torch.nn.functional.cross_entropy(forward(params, x), y)

    def init(weights: dict[str, np.ndarray]) -> Any:
        params = {k: torch.tensor(w, requires_grad=True) for k, w in weights.items()}
        return params, torch.optim.Adam(params.values(), lr=config.lr)

    def gradients(weights: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        params, _ = init(weights)
        loss_fn(params, torch.from_numpy(x), torch.from_numpy(y)).backward()
        return {k: p.grad.numpy() for k, p in params.items()}

    def step(state: Any, x: np.ndarray, y: np.ndarray) -> tuple[Any, float]:
        params, opt = state
        opt.zero_grad()
        loss = loss_fn(params, torch.from_numpy(x), torch.from_numpy(y))
        loss.backward()
        opt.step()
        return state, float(loss.detach())

    def accuracy(state: Any, x: np.ndarray, y: np.ndarray) -> float:
        with torch.no_grad():
            predicted = forward(state[0], torch.from_numpy(x)).argmax(-1).numpy()
        return float((predicted == y).mean())

    def learned(state: Any) -> dict[str, float]:
        return learned_values(config, {k: p.detach().numpy() for k, p in state[0].items()})

    return {"init": init, "step": step, "gradients": gradients, "accuracy": accuracy,
            "learned": learned}


_TRAINERS: dict[str, Callable[[DemoConfig], dict[str, Any]]] = {
    "jax": _jax_trainer,
    "torch": _torch_trainer,
}


def train(framework: str, config: DemoConfig, data: tuple[np.ndarray, ...],
          progress: Callable[[int, int, float], None] | None = None) -> dict[str, Any]:
    """Train one framework (under its own backend, whatever ``SPIKEGRAD_BACKEND`` selects); the
    history of loss and test accuracy per epoch, and the time."""
    import spikegrad as sg

    with sg.backend(framework):
        return _train(framework, config, data, progress)


def _train(framework: str, config: DemoConfig, data: tuple[np.ndarray, ...],
           progress: Callable[[int, int, float], None] | None) -> dict[str, Any]:
    x_tr, y_tr, x_te, y_te = data
    trainer = _TRAINERS[framework](config)
    state = trainer["init"](initial_weights(config))
    history: dict[str, list[float]] = {"loss": [], "test_accuracy": []}
    start = time.perf_counter()
    for epoch in range(config.epochs):
        losses = []
        for idx in batches(len(x_tr), config.batch, epoch, config.seed):
            state, loss = trainer["step"](state, x_tr[idx], y_tr[idx])
            losses.append(loss)
        history["loss"].append(float(np.mean(losses)))
        history["test_accuracy"].append(trainer["accuracy"](state, x_te, y_te))
        if progress:
            progress(epoch + 1, config.epochs, history["test_accuracy"][-1])
    return {"framework": framework, "history": history, "seconds": time.perf_counter() - start,
            "test_accuracy": history["test_accuracy"][-1], "learned": trainer["learned"](state)}


def first_step_gradients(framework: str, config: DemoConfig, data: tuple[np.ndarray, ...]
                         ) -> dict[str, np.ndarray]:
    """Gradients of the loss on the first training batch, from the shared initial weights."""
    import spikegrad as sg

    x_tr, y_tr = data[0], data[1]
    idx = batches(len(x_tr), config.batch, 0, config.seed)[0]
    with sg.backend(framework):
        return _TRAINERS[framework](config)["gradients"](initial_weights(config), x_tr[idx],
                                                         y_tr[idx])


def compare_gradients(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """The largest absolute difference between two gradient sets, relative to their scale."""
    return max(float(np.max(np.abs(a[k] - b[k])) / max(1.0, float(np.max(np.abs(a[k])))))
               for k in a)


def plot_history(results: list[dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    for r, style in zip(results, ("-", "--", ":")):  # dashed: the curves of two frameworks overlap
        epochs = range(1, len(r["history"]["loss"]) + 1)
        ax_loss.plot(epochs, r["history"]["loss"], style, label=r["framework"])
        ax_acc.plot(epochs, r["history"]["test_accuracy"], style, label=r["framework"])
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="Loss")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy", title="Test accuracy", ylim=(0, 1))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_demo(framework: str | None = None, config: DemoConfig | None = None,
             plot: str | None = "spikegrad-demo.png",
             echo: Callable[[str], None] = print,
             progress_factory: Callable[[str, int], Any] | None = None) -> dict[str, Any]:
    """Run the demo; returns the results (also printed through ``echo``).

    ``progress_factory(framework, epochs)`` may return a progress bar (``update(n)``,
    ``close()``, and tqdm's ``set_postfix_str`` if it has one), advanced once per epoch.
    """
    import spikegrad as sg

    config = config or DemoConfig()
    # Clear errors before any work: an unknown name, a count of epochs, nothing to train, a
    # plot that could not be written after the training.
    surrogate = sg.get(config.surrogate)
    _check_count("epochs", config.epochs, "training epochs", DemoConfig.epochs)
    if config.train_surrogate and not trained_parameters(config):
        canonical = getattr(surrogate, "canonical", None)
        instead = f"; train its catalogue surrogate, {canonical()!r}" if canonical else ""
        raise ValueError(f"{config.surrogate!r} has no parameters to train{instead}")
    if plot:
        _check_writable(plot, "the plot", "pass another path, or '' for no plot")
    available = installed_frameworks()
    if not available:
        raise RuntimeError("the demo needs JAX or PyTorch: pip install 'spikegrad[demo]'")
    if framework in (None, "auto"):  # the backend in force, if it is one of them
        selected = sg.get_backend()
        chosen = [selected] if selected in available else available[:1]
    elif framework == "all":
        chosen = available
    elif framework in FRAMEWORKS:
        if framework not in available:
            raise RuntimeError(
                f"{framework} is not installed: pip install 'spikegrad[{framework}]'"
            )
        chosen = [framework]
    else:
        raise ValueError(f"unknown framework {framework!r}; choose jax, torch, all or auto")

    data = load_digits_split(config.seed)
    trained = ", ".join(trained_parameters(config))
    echo(f"digits: {len(data[0])} training and {len(data[2])} test images; surrogate "
         f"{sg.get(config.surrogate)!r}{f' (trained: {trained})' if trained else ''}; "
         f"{config.hidden} LIF neurons, {config.steps} time steps")
    report: dict[str, Any] = {"results": []}
    if len(chosen) > 1:
        grads = {f: first_step_gradients(f, config, data) for f in chosen}
        diff = compare_gradients(grads[chosen[0]], grads[chosen[1]])
        report["gradient_difference"] = diff
        echo(f"first-step gradients, {chosen[0]} vs {chosen[1]}: max difference {diff:.2e} "
             f"({'agree' if diff <= 1e-5 else 'DISAGREE'} to 1e-5)")
    for f in chosen:
        bar = progress_factory(f, config.epochs) if progress_factory else None

        def on_epoch(epoch: int, total: int, accuracy: float, bar: Any = bar) -> None:
            bar.update(1)
            if hasattr(bar, "set_postfix_str"):  # tqdm
                bar.set_postfix_str(f"test accuracy {accuracy:.1%}")

        try:
            result = train(f, config, data, on_epoch if bar else None)
        finally:  # also on an error: the error message then starts on a clean line
            if bar:
                bar.close()
        report["results"].append(result)
        echo(f"{f}: test accuracy {result['test_accuracy']:.1%} after {config.epochs} epochs "
             f"in {result['seconds']:.1f} s")
        if result["learned"]:
            start = {n: p.default for n, (_, p) in trained_parameters(config).items()}
            echo(f"{f}: learned surrogate {sg.get(config.surrogate, **result['learned'])!r} "
                 f"(from {sg.get(config.surrogate, **start)!r})")
    if plot:
        plot_history(report["results"], plot)
        echo(f"training curve written to {plot}")
    return report
