"""The surrogate catalogue: one class and one function per surrogate.

Names, parameters and defaults follow ``braintools.surrogate``; the maths of each lives once in
:mod:`spikegrad._math`. Each class is registered under its function's name for
:func:`spikegrad.get`.
"""

from __future__ import annotations

from . import _math
from ._functional import functional
from ._params import Param
from ._surrogate import Surrogate

__all__ = [
    "Sigmoid",
    "sigmoid",
    "PiecewiseQuadratic",
    "piecewise_quadratic",
    "PiecewiseExp",
    "piecewise_exp",
    "SoftSign",
    "soft_sign",
    "Arctan",
    "arctan",
    "NonzeroSignLog",
    "nonzero_sign_log",
    "ERF",
    "erf",
    "PiecewiseLeakyRelu",
    "piecewise_leaky_relu",
    "SquarewaveFourierSeries",
    "squarewave_fourier_series",
    "S2NN",
    "s2nn",
    "QPseudoSpike",
    "q_pseudo_spike",
    "LeakyRelu",
    "leaky_relu",
    "LogTailedRelu",
    "log_tailed_relu",
    "ReluGrad",
    "relu_grad",
    "GaussianGrad",
    "gaussian_grad",
    "MultiGaussianGrad",
    "multi_gaussian_grad",
    "InvSquareGrad",
    "inv_square_grad",
    "SlayerGrad",
    "slayer_grad",
]


class Sigmoid(Surrogate, name="sigmoid"):
    r"""Logistic (sigmoid) surrogate.

    Forward: the spike :math:`H(x) = [x \ge 0]`; backward: the surrogate gradient

    .. math:: g'(x) = \alpha\,\sigma(\alpha x)\,(1 - \sigma(\alpha x))

    the derivative of the primitive (``surrogate_fun``, the forward when ``origin=True``)

    .. math:: g(x) = \sigma(\alpha x) = \frac{1}{1 + e^{-\alpha x}}

    Parameters
    ----------
    alpha : float, default 4.0
        Steepness; the peak of g' is alpha/4; allowed: > 0.
    origin : bool, default False
        Return :math:`g(x)` instead of the spike (same derivative).

    Notes
    -----
    Computed as :math:`\alpha e / (1+e)^2` with :math:`e = e^{-\alpha|x|}`, which neither
    overflows nor cancels in the tails.

    References
    ----------
    E. O. Neftci, H. Mostafa, F. Zenke, *Surrogate gradient learning in spiking neural
    networks*, IEEE Signal Processing Magazine 36 (2019).

    Examples
    --------
    >>> import numpy as np
    >>> import spikegrad as sg
    >>> x = np.array([-1.0, 0.0, 0.5, 2.0])
    >>> f = sg.Sigmoid()
    >>> f(x)
    array([0., 1., 1., 1.])
    >>> f.surrogate_grad(x).round(4)
    array([0.0707, 1.    , 0.42  , 0.0013])
    >>> f.surrogate_fun(x).round(4)
    array([0.018 , 0.5   , 0.8808, 0.9997])
    >>> sg.sigmoid(x)  # the functional form
    array([0., 1., 1., 1.])
    """

    alpha = Param(4.0, gt=0, doc="steepness; the peak of g' is alpha/4")
    grad = staticmethod(_math.sigmoid_grad)
    primitive = staticmethod(_math.sigmoid_primitive)


sigmoid = functional(Sigmoid)


class PiecewiseQuadratic(Surrogate, name="piecewise_quadratic"):
    r"""Piecewise quadratic surrogate (a triangular gradient).

    Forward: the spike :math:`H(x) = [x \ge 0]`; backward: the surrogate gradient

    .. math:: g'(x) = \max(0,\ \alpha - \alpha^2 |x|)

    the derivative of the primitive (``surrogate_fun``, the forward when ``origin=True``)

    .. math:: g(x) = \begin{cases} 0 & x < -1/\alpha \\ -\tfrac{\alpha^2}{2}|x|x + \alpha x + \tfrac12 & |x| \le 1/\alpha \\ 1 & x > 1/\alpha \end{cases}

    Parameters
    ----------
    alpha : float, default 1.0
        Peak height; the support is abs(x) <= 1/alpha; allowed: > 0.
    origin : bool, default False
        Return :math:`g(x)` instead of the spike (same derivative).

    References
    ----------
    S. K. Esser et al., *Convolutional networks for fast, energy-efficient neuromorphic
    computing*, PNAS 113 (2016); Y. Wu et al., *Spatio-temporal backpropagation for training
    high-performance spiking neural networks*, Frontiers in Neuroscience 12 (2018).

    Examples
    --------
    >>> import numpy as np
    >>> import spikegrad as sg
    >>> x = np.array([-1.0, 0.0, 0.5, 2.0])
    >>> f = sg.PiecewiseQuadratic()
    >>> f(x)
    array([0., 1., 1., 1.])
    >>> f.surrogate_grad(x).round(4)
    array([0. , 1. , 0.5, 0. ])
    >>> f.surrogate_fun(x).round(4)
    array([0.   , 0.5  , 0.875, 1.   ])
    >>> sg.piecewise_quadratic(x)  # the functional form
    array([0., 1., 1., 1.])
    """

    alpha = Param(1.0, gt=0, doc="peak height; the support is abs(x) <= 1/alpha")
    grad = staticmethod(_math.piecewise_quadratic_grad)
    primitive = staticmethod(_math.piecewise_quadratic_primitive)


piecewise_quadratic = functional(PiecewiseQuadratic)


class PiecewiseExp(Surrogate, name="piecewise_exp"):
    r"""Piecewise exponential (Laplace) surrogate.

    Forward: the spike :math:`H(x) = [x \ge 0]`; backward: the surrogate gradient

    .. math:: g'(x) = \frac{\alpha}{2} e^{-\alpha|x|}

    the derivative of the primitive (``surrogate_fun``, the forward when ``origin=True``)

    .. math:: g(x) = \begin{cases} \tfrac12 e^{\alpha x} & x < 0 \\ 1 - \tfrac12 e^{-\alpha x} & x \ge 0 \end{cases}

    Parameters
    ----------
    alpha : float, default 1.0
        Decay rate of the exponential tails; allowed: > 0.
    origin : bool, default False
        Return :math:`g(x)` instead of the spike (same derivative).

    References
    ----------
    E. O. Neftci, H. Mostafa, F. Zenke, *Surrogate gradient learning in spiking neural
    networks*, IEEE Signal Processing Magazine 36 (2019).

    Examples
    --------
    >>> import numpy as np
    >>> import spikegrad as sg
    >>> x = np.array([-1.0, 0.0, 0.5, 2.0])
    >>> f = sg.PiecewiseExp()
    >>> f(x)
    array([0., 1., 1., 1.])
    >>> f.surrogate_grad(x).round(4)
    array([0.1839, 0.5   , 0.3033, 0.0677])
    >>> f.surrogate_fun(x).round(4)
    array([0.1839, 0.5   , 0.6967, 0.9323])
    >>> sg.piecewise_exp(x)  # the functional form
    array([0., 1., 1., 1.])
    """

    alpha = Param(1.0, gt=0, doc="decay rate of the exponential tails")
    grad = staticmethod(_math.piecewise_exp_grad)
    primitive = staticmethod(_math.piecewise_exp_primitive)


piecewise_exp = functional(PiecewiseExp)


class SoftSign(Surrogate, name="soft_sign"):
    r"""Soft-sign surrogate (the fast sigmoid of SuperSpike, scaled to unit area).

    Forward: the spike :math:`H(x) = [x \ge 0]`; backward: the surrogate gradient

    .. math:: g'(x) = \frac{\alpha}{2\,(1 + |\alpha x|)^2}

    the derivative of the primitive (``surrogate_fun``, the forward when ``origin=True``)

    .. math:: g(x) = \frac12\left(\frac{\alpha x}{1 + |\alpha x|} + 1\right)

    Parameters
    ----------
    alpha : float, default 1.0
        Steepness; allowed: > 0.
    origin : bool, default False
        Return :math:`g(x)` instead of the spike (same derivative).

    References
    ----------
    F. Zenke, S. Ganguli, *SuperSpike: supervised learning in multilayer spiking neural
    networks*, Neural Computation 30 (2018).

    Examples
    --------
    >>> import numpy as np
    >>> import spikegrad as sg
    >>> x = np.array([-1.0, 0.0, 0.5, 2.0])
    >>> f = sg.SoftSign()
    >>> f(x)
    array([0., 1., 1., 1.])
    >>> f.surrogate_grad(x).round(4)
    array([0.125 , 0.5   , 0.2222, 0.0556])
    >>> f.surrogate_fun(x).round(4)
    array([0.25  , 0.5   , 0.6667, 0.8333])
    >>> sg.soft_sign(x)  # the functional form
    array([0., 1., 1., 1.])
    """

    alpha = Param(1.0, gt=0, doc="steepness")
    grad = staticmethod(_math.soft_sign_grad)
    primitive = staticmethod(_math.soft_sign_primitive)


soft_sign = functional(SoftSign)


class Arctan(Surrogate, name="arctan"):
    r"""Arctangent surrogate.

    Forward: the spike :math:`H(x) = [x \ge 0]`; backward: the surrogate gradient

    .. math:: g'(x) = \frac{\alpha}{2\,\left(1 + (\tfrac{\pi}{2}\alpha x)^2\right)}

    the derivative of the primitive (``surrogate_fun``, the forward when ``origin=True``)

    .. math:: g(x) = \frac{1}{\pi}\arctan\left(\tfrac{\pi}{2}\alpha x\right) + \frac12

    Parameters
    ----------
    alpha : float, default 1.0
        Steepness; allowed: > 0.
    origin : bool, default False
        Return :math:`g(x)` instead of the spike (same derivative).

    Notes
    -----
    braintools' default is alpha=1; spikingjelly's and snntorch's ``ATan``/``atan`` default to
    2.

    References
    ----------
    W. Fang et al., *Incorporating learnable membrane time constant to enhance learning of
    spiking neural networks*, ICCV (2021).

    Examples
    --------
    >>> import numpy as np
    >>> import spikegrad as sg
    >>> x = np.array([-1.0, 0.0, 0.5, 2.0])
    >>> f = sg.Arctan()
    >>> f(x)
    array([0., 1., 1., 1.])
    >>> f.surrogate_grad(x).round(4)
    array([0.1442, 0.5   , 0.3092, 0.046 ])
    >>> f.surrogate_fun(x).round(4)
    array([0.1805, 0.5   , 0.7119, 0.9019])
    >>> sg.arctan(x)  # the functional form
    array([0., 1., 1., 1.])
    """

    alpha = Param(1.0, gt=0, doc="steepness")
    grad = staticmethod(_math.arctan_grad)
    primitive = staticmethod(_math.arctan_primitive)


arctan = functional(Arctan)


class NonzeroSignLog(Surrogate, name="nonzero_sign_log"):
    r"""Sign-log surrogate with a nonzero sign function.

    Forward: the spike :math:`H(x) = [x \ge 0]`; backward: the surrogate gradient

    .. math:: g'(x) = \frac{1}{1/\alpha + |x|}

    the derivative of the primitive (``surrogate_fun``, the forward when ``origin=True``)

    .. math:: g(x) = \operatorname{sgn}(x)\,\log(1 + \alpha|x|), \quad \operatorname{sgn}(0) = 1

    Parameters
    ----------
    alpha : float, default 1.0
        Steepness; g'(0) = alpha; allowed: > 0.
    origin : bool, default False
        Return :math:`g(x)` instead of the spike (same derivative).

    Notes
    -----
    Unlike the other primitives, g is unbounded (it grows like log|x|).

    References
    ----------
    The SpikingJelly and braintools catalogues (no separate publication).

    Examples
    --------
    >>> import numpy as np
    >>> import spikegrad as sg
    >>> x = np.array([-1.0, 0.0, 0.5, 2.0])
    >>> f = sg.NonzeroSignLog()
    >>> f(x)
    array([0., 1., 1., 1.])
    >>> f.surrogate_grad(x).round(4)
    array([0.5   , 1.    , 0.6667, 0.3333])
    >>> f.surrogate_fun(x).round(4)
    array([-0.6931,  0.    ,  0.4055,  1.0986])
    >>> sg.nonzero_sign_log(x)  # the functional form
    array([0., 1., 1., 1.])
    """

    alpha = Param(1.0, gt=0, doc="steepness; g'(0) = alpha")
    grad = staticmethod(_math.nonzero_sign_log_grad)
    primitive = staticmethod(_math.nonzero_sign_log_primitive)


nonzero_sign_log = functional(NonzeroSignLog)


class ERF(Surrogate, name="erf"):
    r"""Gauss error function surrogate (a Gaussian gradient of unit area).

    Forward: the spike :math:`H(x) = [x \ge 0]`; backward: the surrogate gradient

    .. math:: g'(x) = \frac{\alpha}{\sqrt\pi} e^{-\alpha^2 x^2}

    the derivative of the primitive (``surrogate_fun``, the forward when ``origin=True``)

    .. math:: g(x) = \frac12\operatorname{erfc}(-\alpha x) = \frac12\left(1 + \operatorname{erf}(\alpha x)\right)

    Parameters
    ----------
    alpha : float, default 1.0
        Steepness; g' is a normal density with standard deviation 1/(alpha*sqrt(2)); allowed: > 0.
    origin : bool, default False
        Return :math:`g(x)` instead of the spike (same derivative).

    Notes
    -----
    spikingjelly's ``Erf`` defaults to alpha=2; braintools' to 1.

    References
    ----------
    Y. Wu et al., *Spatio-temporal backpropagation for training high-performance spiking neural
    networks*, Frontiers in Neuroscience 12 (2018).

    Examples
    --------
    >>> import numpy as np
    >>> import spikegrad as sg
    >>> x = np.array([-1.0, 0.0, 0.5, 2.0])
    >>> f = sg.ERF()
    >>> f(x)
    array([0., 1., 1., 1.])
    >>> f.surrogate_grad(x).round(4)
    array([0.2076, 0.5642, 0.4394, 0.0103])
    >>> f.surrogate_fun(x).round(4)
    array([0.0786, 0.5   , 0.7602, 0.9977])
    >>> sg.erf(x)  # the functional form
    array([0., 1., 1., 1.])
    """

    alpha = Param(1.0, gt=0, doc="steepness; g' is a normal density with standard deviation 1/(alpha*sqrt(2))")
    grad = staticmethod(_math.erf_grad)
    primitive = staticmethod(_math.erf_primitive)


erf = functional(ERF)


class PiecewiseLeakyRelu(Surrogate, name="piecewise_leaky_relu"):
    r"""Piecewise leaky ReLU surrogate: a box of height 1/(2w) with leaky tails.

    Forward: the spike :math:`H(x) = [x \ge 0]`; backward: the surrogate gradient

    .. math:: g'(x) = \begin{cases} \frac{1}{2w} & |x| \le w \\ c & |x| > w \end{cases}

    the derivative of the primitive (``surrogate_fun``, the forward when ``origin=True``)

    .. math:: g(x) = \begin{cases} c x + c w & x < -w \\ \frac{x}{2w} + \frac12 & |x| \le w \\ c x - c w + 1 & x > w \end{cases}

    Parameters
    ----------
    c : float, default 0.01
        Slope outside the box; allowed: >= 0.
    w : float, default 1.0
        Half-width of the box; allowed: > 0.
    origin : bool, default False
        Return :math:`g(x)` instead of the spike (same derivative).

    Notes
    -----
    The box is closed at ``|x| == w`` (as braintools; spikingjelly's is open).

    References
    ----------
    Y. Wu et al., *Spatio-temporal backpropagation for training high-performance spiking neural
    networks*, Frontiers in Neuroscience 12 (2018).

    Examples
    --------
    >>> import numpy as np
    >>> import spikegrad as sg
    >>> x = np.array([-1.0, 0.0, 0.5, 2.0])
    >>> f = sg.PiecewiseLeakyRelu()
    >>> f(x)
    array([0., 1., 1., 1.])
    >>> f.surrogate_grad(x).round(4)
    array([0.5 , 0.5 , 0.5 , 0.01])
    >>> f.surrogate_fun(x).round(4)
    array([0.  , 0.5 , 0.75, 1.01])
    >>> sg.piecewise_leaky_relu(x)  # the functional form
    array([0., 1., 1., 1.])
    """

    c = Param(0.01, ge=0, doc="slope outside the box")
    w = Param(1.0, gt=0, doc="half-width of the box")
    grad = staticmethod(_math.piecewise_leaky_relu_grad)
    primitive = staticmethod(_math.piecewise_leaky_relu_primitive)


piecewise_leaky_relu = functional(PiecewiseLeakyRelu)


class SquarewaveFourierSeries(Surrogate, name="squarewave_fourier_series"):
    r"""Square-wave Fourier series surrogate.

    Forward: the spike :math:`H(x) = [x \ge 0]`; backward: the surrogate gradient

    .. math:: g'(x) = \frac{4}{T}\sum_{i=1}^{n}\cos\left((2i-1)\frac{2\pi}{T}x\right)

    the derivative of the primitive (``surrogate_fun``, the forward when ``origin=True``)

    .. math:: g(x) = \frac12 + \frac{2}{\pi}\sum_{i=1}^{n}\frac{\sin\left((2i-1)\frac{2\pi}{T}x\right)}{2i-1}

    Parameters
    ----------
    n : int, default 2
        Number of Fourier terms (static); allowed: >= 1.
    t_period : float, default 8.0
        Period T of the square wave; allowed: > 0.
    origin : bool, default False
        Return :math:`g(x)` instead of the spike (same derivative).

    Notes
    -----
    Sums n terms, as braintools (spikingjelly sums n - 1). ``n`` is a static integer: it cannot
    be traced under ``jax.jit``. g and g' are periodic with period T.

    References
    ----------
    The SpikingJelly and braintools catalogues (no separate publication).

    Examples
    --------
    >>> import numpy as np
    >>> import spikegrad as sg
    >>> x = np.array([-1.0, 0.0, 0.5, 2.0])
    >>> f = sg.SquarewaveFourierSeries()
    >>> f(x)
    array([0., 1., 1., 1.])
    >>> f.surrogate_grad(x).round(4)
    array([ 0.    ,  1.    ,  0.6533, -0.    ])
    >>> f.surrogate_fun(x).round(4)
    array([-0.1002,  0.5   ,  0.9397,  0.9244])
    >>> sg.squarewave_fourier_series(x)  # the functional form
    array([0., 1., 1., 1.])
    """

    n = Param(2, integer=True, ge=1, doc="number of Fourier terms (static)")
    t_period = Param(8.0, gt=0, doc="period T of the square wave")
    grad = staticmethod(_math.squarewave_fourier_series_grad)
    primitive = staticmethod(_math.squarewave_fourier_series_primitive)


squarewave_fourier_series = functional(SquarewaveFourierSeries)


class S2NN(Surrogate, name="s2nn"):
    r"""S2NN surrogate: sigmoid below the threshold, logarithmic above.

    Forward: the spike :math:`H(x) = [x \ge 0]`; backward: the surrogate gradient

    .. math:: g'(x) = \begin{cases} \alpha\,\sigma(\alpha x)(1 - \sigma(\alpha x)) & x < 0 \\ \frac{\beta}{x + 1 + \epsilon} & x \ge 0 \end{cases}

    the derivative of the primitive (``surrogate_fun``, the forward when ``origin=True``)

    .. math:: g(x) = \begin{cases} \sigma(\alpha x) & x < 0 \\ \beta \log(x + 1 + \epsilon) + \frac12 & x \ge 0 \end{cases}

    Parameters
    ----------
    alpha : float, default 4.0
        Steepness of the sigmoid branch (x < 0); allowed: > 0.
    beta : float, default 1.0
        Scale of the logarithmic branch (x >= 0); allowed: > 0.
    epsilon : float, default 1e-8
        Offset inside the logarithm; allowed: >= 0.
    origin : bool, default False
        Return :math:`g(x)` instead of the spike (same derivative).

    Notes
    -----
    braintools' gradient omits epsilon (beta / (x + 1)); spikegrad keeps it so that g' is
    exactly the derivative of g (a relative difference of at most epsilon).

    References
    ----------
    K. Suetake et al., *S3NN: Time step reduction of spiking surrogate gradients for training
    energy efficient single-step spiking neural networks*, Neural Networks 159 (2023).

    Examples
    --------
    >>> import numpy as np
    >>> import spikegrad as sg
    >>> x = np.array([-1.0, 0.0, 0.5, 2.0])
    >>> f = sg.S2NN()
    >>> f(x)
    array([0., 1., 1., 1.])
    >>> f.surrogate_grad(x).round(4)
    array([0.0707, 1.    , 0.6667, 0.3333])
    >>> f.surrogate_fun(x).round(4)
    array([0.018 , 0.5   , 0.9055, 1.5986])
    >>> sg.s2nn(x)  # the functional form
    array([0., 1., 1., 1.])
    """

    alpha = Param(4.0, gt=0, doc="steepness of the sigmoid branch (x < 0)")
    beta = Param(1.0, gt=0, doc="scale of the logarithmic branch (x >= 0)")
    epsilon = Param(1e-8, ge=0, doc="offset inside the logarithm")
    grad = staticmethod(_math.s2nn_grad)
    primitive = staticmethod(_math.s2nn_primitive)


s2nn = functional(S2NN)


class QPseudoSpike(Surrogate, name="q_pseudo_spike"):
    r"""q-PseudoSpike surrogate with tunable tail fatness.

    Forward: the spike :math:`H(x) = [x \ge 0]`; backward: the surrogate gradient

    .. math:: g'(x) = \left(1 + \frac{2|x|}{\alpha + 1}\right)^{-\alpha}

    the derivative of the primitive (``surrogate_fun``, the forward when ``origin=True``)

    .. math:: g(x) = \frac12 + \operatorname{sgn}(x)\,\frac{\alpha + 1}{2(\alpha - 1)}\left(1 - \left(1 + \frac{2|x|}{\alpha+1}\right)^{1-\alpha}\right) \quad (\text{its limit } \operatorname{sgn}(x)\log(1+|x|) + \tfrac12 \text{ at } \alpha = 1)

    Parameters
    ----------
    alpha : float, default 2.0
        Tail fatness: smaller alpha, heavier tails; allowed: > 0.
    origin : bool, default False
        Return :math:`g(x)` instead of the spike (same derivative).

    Notes
    -----
    Uses braintools' ``alpha + 1`` form (the paper and spikingjelly use ``alpha - 1``). Well
    defined at alpha = 1, where spikingjelly divides by zero.

    References
    ----------
    L. Herranz-Celotti, J. Rouat, *Stabilizing spiking neuron training*, arXiv:2202.00282
    (2022).

    Examples
    --------
    >>> import numpy as np
    >>> import spikegrad as sg
    >>> x = np.array([-1.0, 0.0, 0.5, 2.0])
    >>> f = sg.QPseudoSpike()
    >>> f(x)
    array([0., 1., 1., 1.])
    >>> f.surrogate_grad(x).round(4)
    array([0.36  , 1.    , 0.5625, 0.1837])
    >>> f.surrogate_fun(x).round(4)
    array([-0.1   ,  0.5   ,  0.875 ,  1.3571])
    >>> sg.q_pseudo_spike(x)  # the functional form
    array([0., 1., 1., 1.])
    """

    alpha = Param(2.0, gt=0, doc="tail fatness: smaller alpha, heavier tails")
    grad = staticmethod(_math.q_pseudo_spike_grad)
    primitive = staticmethod(_math.q_pseudo_spike_primitive)


q_pseudo_spike = functional(QPseudoSpike)


class LeakyRelu(Surrogate, name="leaky_relu"):
    r"""Leaky ReLU surrogate: two constant slopes.

    Forward: the spike :math:`H(x) = [x \ge 0]`; backward: the surrogate gradient

    .. math:: g'(x) = \begin{cases} \alpha & x < 0 \\ \beta & x \ge 0 \end{cases}

    the derivative of the primitive (``surrogate_fun``, the forward when ``origin=True``)

    .. math:: g(x) = \begin{cases} \alpha x & x < 0 \\ \beta x & x \ge 0 \end{cases}

    Parameters
    ----------
    alpha : float, default 0.1
        Slope for x < 0; allowed: any finite value.
    beta : float, default 1.0
        Slope for x >= 0; allowed: any finite value.
    origin : bool, default False
        Return :math:`g(x)` instead of the spike (same derivative).

    References
    ----------
    The braintools catalogue.

    Examples
    --------
    >>> import numpy as np
    >>> import spikegrad as sg
    >>> x = np.array([-1.0, 0.0, 0.5, 2.0])
    >>> f = sg.LeakyRelu()
    >>> f(x)
    array([0., 1., 1., 1.])
    >>> f.surrogate_grad(x).round(4)
    array([0.1, 1. , 1. , 1. ])
    >>> f.surrogate_fun(x).round(4)
    array([-0.1,  0. ,  0.5,  2. ])
    >>> sg.leaky_relu(x)  # the functional form
    array([0., 1., 1., 1.])
    """

    alpha = Param(0.1, doc="slope for x < 0")
    beta = Param(1.0, doc="slope for x >= 0")
    grad = staticmethod(_math.leaky_relu_grad)
    primitive = staticmethod(_math.leaky_relu_primitive)


leaky_relu = functional(LeakyRelu)


class LogTailedRelu(Surrogate, name="log_tailed_relu"):
    r"""Log-tailed ReLU surrogate.

    Forward: the spike :math:`H(x) = [x \ge 0]`; backward: the surrogate gradient

    .. math:: g'(x) = \begin{cases} \alpha & x \le 0 \\ 1 & 0 < x \le 1 \\ 1/x & x > 1 \end{cases}

    the derivative of the primitive (``surrogate_fun``, the forward when ``origin=True``)

    .. math:: g(x) = \begin{cases} \alpha x & x \le 0 \\ x & 0 < x \le 1 \\ 1 + \log x & x > 1 \end{cases}

    Parameters
    ----------
    alpha : float, default 0.0
        Slope for x <= 0; allowed: any finite value.
    origin : bool, default False
        Return :math:`g(x)` instead of the spike (same derivative).

    Notes
    -----
    The tail is ``1 + log(x)`` (continuous at 1), as braintools' code; older docs say
    ``log(x)``.

    References
    ----------
    Z. Cai et al., *Deep learning with low precision by half-wave Gaussian quantization*, CVPR
    (2017).

    Examples
    --------
    >>> import numpy as np
    >>> import spikegrad as sg
    >>> x = np.array([-1.0, 0.0, 0.5, 2.0])
    >>> f = sg.LogTailedRelu()
    >>> f(x)
    array([0., 1., 1., 1.])
    >>> f.surrogate_grad(x).round(4)
    array([0. , 0. , 1. , 0.5])
    >>> f.surrogate_fun(x).round(4)
    array([-0.    ,  0.    ,  0.5   ,  1.6931])
    >>> sg.log_tailed_relu(x)  # the functional form
    array([0., 1., 1., 1.])
    """

    alpha = Param(0.0, doc="slope for x <= 0")
    grad = staticmethod(_math.log_tailed_relu_grad)
    primitive = staticmethod(_math.log_tailed_relu_primitive)


log_tailed_relu = functional(LogTailedRelu)


class ReluGrad(Surrogate, name="relu_grad"):
    r"""ReLU-shaped (triangular) surrogate gradient.

    Forward: the spike :math:`H(x) = [x \ge 0]`; backward: the surrogate gradient

    .. math:: g'(x) = \max(0,\ \alpha\,w - \alpha|x|)

    the derivative of the primitive (``surrogate_fun``, the forward when ``origin=True``)

    .. math:: g(x) = \alpha\left(w\,x_c - \tfrac12|x_c|x_c + \tfrac12 w^2\right), \quad x_c = \operatorname{clip}(x, -w, w)

    Parameters
    ----------
    alpha : float, default 0.3
        Slope of the triangle's sides; allowed: > 0.
    width : float, default 1.0
        Half-width of the triangle; allowed: > 0.
    origin : bool, default False
        Return :math:`g(x)` instead of the spike (same derivative).

    Notes
    -----
    braintools defines no primitive; g is the exact antiderivative with g(-inf) = 0 (it rises to
    alpha*w**2).

    References
    ----------
    E. O. Neftci, H. Mostafa, F. Zenke, *Surrogate gradient learning in spiking neural
    networks*, IEEE Signal Processing Magazine 36 (2019).

    Examples
    --------
    >>> import numpy as np
    >>> import spikegrad as sg
    >>> x = np.array([-1.0, 0.0, 0.5, 2.0])
    >>> f = sg.ReluGrad()
    >>> f(x)
    array([0., 1., 1., 1.])
    >>> f.surrogate_grad(x).round(4)
    array([0.  , 0.3 , 0.15, 0.  ])
    >>> f.surrogate_fun(x).round(4)
    array([0.    , 0.15  , 0.2625, 0.3   ])
    >>> sg.relu_grad(x)  # the functional form
    array([0., 1., 1., 1.])
    """

    alpha = Param(0.3, gt=0, doc="slope of the triangle's sides")
    width = Param(1.0, gt=0, doc="half-width of the triangle")
    grad = staticmethod(_math.relu_grad_grad)
    primitive = staticmethod(_math.relu_grad_primitive)


relu_grad = functional(ReluGrad)


class GaussianGrad(Surrogate, name="gaussian_grad"):
    r"""Gaussian surrogate gradient.

    Forward: the spike :math:`H(x) = [x \ge 0]`; backward: the surrogate gradient

    .. math:: g'(x) = \alpha\,\frac{1}{\sqrt{2\pi}\,\sigma} e^{-x^2/(2\sigma^2)}

    the derivative of the primitive (``surrogate_fun``, the forward when ``origin=True``)

    .. math:: g(x) = \alpha\,\Phi(x/\sigma) = \frac{\alpha}{2}\operatorname{erfc}\left(-\frac{x}{\sigma\sqrt2}\right)

    Parameters
    ----------
    sigma : float, default 0.5
        Standard deviation; allowed: > 0.
    alpha : float, default 0.5
        Scale (the area under g'); allowed: > 0.
    origin : bool, default False
        Return :math:`g(x)` instead of the spike (same derivative).

    Notes
    -----
    braintools defines no primitive; g is the exact antiderivative with g(-inf) = 0 (it rises to
    alpha).

    References
    ----------
    B. Yin, F. Corradi, S. M. Bohté, *Accurate and efficient time-domain classification with
    adaptive spiking recurrent neural networks*, Nature Machine Intelligence 3 (2021).

    Examples
    --------
    >>> import numpy as np
    >>> import spikegrad as sg
    >>> x = np.array([-1.0, 0.0, 0.5, 2.0])
    >>> f = sg.GaussianGrad()
    >>> f(x)
    array([0., 1., 1., 1.])
    >>> f.surrogate_grad(x).round(4)
    array([5.400e-02, 3.989e-01, 2.420e-01, 1.000e-04])
    >>> f.surrogate_fun(x).round(4)
    array([0.0114, 0.25  , 0.4207, 0.5   ])
    >>> sg.gaussian_grad(x)  # the functional form
    array([0., 1., 1., 1.])
    """

    sigma = Param(0.5, gt=0, doc="standard deviation")
    alpha = Param(0.5, gt=0, doc="scale (the area under g')")
    grad = staticmethod(_math.gaussian_grad_grad)
    primitive = staticmethod(_math.gaussian_grad_primitive)


gaussian_grad = functional(GaussianGrad)


class MultiGaussianGrad(Surrogate, name="multi_gaussian_grad"):
    r"""Multi-Gaussian surrogate gradient: a central Gaussian with two negative side lobes.

    Forward: the spike :math:`H(x) = [x \ge 0]`; backward: the surrogate gradient

    .. math:: g'(x) = \text{scale}\left[(1+h)\,\mathcal N(x; 0, \sigma) - h\,\mathcal N(x; \sigma, s\sigma) - h\,\mathcal N(x; -\sigma, s\sigma)\right]

    the derivative of the primitive (``surrogate_fun``, the forward when ``origin=True``)

    .. math:: g(x) = \text{scale}\left[(1+h)\,\Phi\left(\tfrac{x}{\sigma}\right) - h\,\Phi\left(\tfrac{x-\sigma}{s\sigma}\right) - h\,\Phi\left(\tfrac{x+\sigma}{s\sigma}\right)\right]

    Parameters
    ----------
    h : float, default 0.15
        Weight of the two negative side lobes; allowed: >= 0.
    s : float, default 6.0
        Width of the side lobes relative to sigma; allowed: > 0.
    sigma : float, default 0.5
        Standard deviation of the central lobe; allowed: > 0.
    scale : float, default 0.5
        Overall scale; allowed: > 0.
    origin : bool, default False
        Return :math:`g(x)` instead of the spike (same derivative).

    Notes
    -----
    braintools defines no primitive; g is the exact antiderivative with g(-inf) = 0 (it rises to
    scale*(1-h)). :math:`\mathcal N(x;\mu,\sigma)` is the normal density and :math:`\Phi`
    the standard normal distribution function.

    References
    ----------
    B. Yin, F. Corradi, S. M. Bohté, *Accurate and efficient time-domain classification with
    adaptive spiking recurrent neural networks*, Nature Machine Intelligence 3 (2021).

    Examples
    --------
    >>> import numpy as np
    >>> import spikegrad as sg
    >>> x = np.array([-1.0, 0.0, 0.5, 2.0])
    >>> f = sg.MultiGaussianGrad()
    >>> f(x)
    array([0., 1., 1., 1.])
    >>> f.surrogate_grad(x).round(4)
    array([ 0.0435,  0.4391,  0.2589, -0.0157])
    >>> f.surrogate_fun(x).round(4)
    array([-0.0426,  0.2125,  0.399 ,  0.4633])
    >>> sg.multi_gaussian_grad(x)  # the functional form
    array([0., 1., 1., 1.])
    """

    h = Param(0.15, ge=0, doc="weight of the two negative side lobes")
    s = Param(6.0, gt=0, doc="width of the side lobes relative to sigma")
    sigma = Param(0.5, gt=0, doc="standard deviation of the central lobe")
    scale = Param(0.5, gt=0, doc="overall scale")
    grad = staticmethod(_math.multi_gaussian_grad_grad)
    primitive = staticmethod(_math.multi_gaussian_grad_primitive)


multi_gaussian_grad = functional(MultiGaussianGrad)


class InvSquareGrad(Surrogate, name="inv_square_grad"):
    r"""Inverse-square surrogate gradient (the fast sigmoid).

    Forward: the spike :math:`H(x) = [x \ge 0]`; backward: the surrogate gradient

    .. math:: g'(x) = \frac{1}{(\alpha|x| + 1)^2}

    the derivative of the primitive (``surrogate_fun``, the forward when ``origin=True``)

    .. math:: g(x) = \begin{cases} \frac{1}{\alpha(1 + \alpha|x|)} & x < 0 \\ \frac{2}{\alpha} - \frac{1}{\alpha(1 + \alpha|x|)} & x \ge 0 \end{cases}

    Parameters
    ----------
    alpha : float, default 100.0
        Steepness; allowed: > 0.
    origin : bool, default False
        Return :math:`g(x)` instead of the spike (same derivative).

    Notes
    -----
    braintools defines no primitive; g is the exact antiderivative with g(-inf) = 0 (it rises to
    2/alpha).

    References
    ----------
    F. Zenke, S. Ganguli, *SuperSpike: supervised learning in multilayer spiking neural
    networks*, Neural Computation 30 (2018).

    Examples
    --------
    >>> import numpy as np
    >>> import spikegrad as sg
    >>> x = np.array([-1.0, 0.0, 0.5, 2.0])
    >>> f = sg.InvSquareGrad()
    >>> f(x)
    array([0., 1., 1., 1.])
    >>> f.surrogate_grad(x).round(4)
    array([1.e-04, 1.e+00, 4.e-04, 0.e+00])
    >>> f.surrogate_fun(x).round(4)
    array([0.0001, 0.01  , 0.0198, 0.02  ])
    >>> sg.inv_square_grad(x)  # the functional form
    array([0., 1., 1., 1.])
    """

    alpha = Param(100.0, gt=0, doc="steepness")
    grad = staticmethod(_math.inv_square_grad_grad)
    primitive = staticmethod(_math.inv_square_grad_primitive)


inv_square_grad = functional(InvSquareGrad)


class SlayerGrad(Surrogate, name="slayer_grad"):
    r"""SLAYER surrogate gradient (an exponential spike escape rate).

    Forward: the spike :math:`H(x) = [x \ge 0]`; backward: the surrogate gradient

    .. math:: g'(x) = e^{-\alpha|x|}

    the derivative of the primitive (``surrogate_fun``, the forward when ``origin=True``)

    .. math:: g(x) = \begin{cases} \frac{1}{\alpha}e^{\alpha x} & x < 0 \\ \frac{2}{\alpha} - \frac{1}{\alpha}e^{-\alpha x} & x \ge 0 \end{cases}

    Parameters
    ----------
    alpha : float, default 1.0
        Decay rate; allowed: > 0.
    origin : bool, default False
        Return :math:`g(x)` instead of the spike (same derivative).

    Notes
    -----
    braintools defines no primitive; g is the exact antiderivative with g(-inf) = 0 (it rises to
    2/alpha).

    References
    ----------
    S. B. Shrestha, G. Orchard, *SLAYER: spike layer error reassignment in time*, NeurIPS
    (2018).

    Examples
    --------
    >>> import numpy as np
    >>> import spikegrad as sg
    >>> x = np.array([-1.0, 0.0, 0.5, 2.0])
    >>> f = sg.SlayerGrad()
    >>> f(x)
    array([0., 1., 1., 1.])
    >>> f.surrogate_grad(x).round(4)
    array([0.3679, 1.    , 0.6065, 0.1353])
    >>> f.surrogate_fun(x).round(4)
    array([0.3679, 1.    , 1.3935, 1.8647])
    >>> sg.slayer_grad(x)  # the functional form
    array([0., 1., 1., 1.])
    """

    alpha = Param(1.0, gt=0, doc="decay rate")
    grad = staticmethod(_math.slayer_grad_grad)
    primitive = staticmethod(_math.slayer_grad_primitive)


slayer_grad = functional(SlayerGrad)
