"""The documentation as a reader gets it: the site is built once (warnings are errors) and its
HTML is checked for what a browser needs and what a reader looks for.

A browser without a network renders the formulas only if MathJax is served by the site itself
and every formula sits in an element MathJax typesets; it shows every image only if the file
is there. A reader looks for every public method of ``Surrogate``, one page per surrogate with
its plot, formulas, parameters and references, the catalogue in one order, and the README's
install commands. (The examples in docs/ run as doctests in the ordinary test run: see
pyproject.toml.)
"""

from __future__ import annotations

import dataclasses
import functools
import html.parser
import inspect
import pathlib
import re
import subprocess
import sys
import urllib.parse

import pytest

import spikegrad as sg
from spikegrad import surrogates

from .conftest import ROOT

pytestmark = pytest.mark.slow

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "track", "wbr"}


class Page(html.parser.HTMLParser):
    """One HTML page as a browser reads it: its assets, ids, links and visible text."""

    def __init__(self, path: pathlib.Path) -> None:
        super().__init__(convert_charrefs=True)
        self.path = path
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.parts: list[tuple[str, bool]] = []  # (visible text, inside a math element)
        self._open: list[tuple[str, bool, bool]] = []  # (tag, is math, is hidden)
        self.feed(path.read_text(encoding="utf-8"))
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        if tag == "link" and "stylesheet" in a.get("rel", "").split():
            self.stylesheets.append(a["href"])
        if tag == "img":
            self.images.append(a["src"])
            self.images += [c.split()[0] for c in a.get("srcset", "").split(",") if c.strip()]
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag not in _VOID:
            self._open.append((tag, "math" in a.get("class", "").split(),
                               tag in ("script", "style", "template")))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                del self._open[i:]
                break

    def handle_data(self, data: str) -> None:
        if not any(hidden for _, _, hidden in self._open):
            self.parts.append((data, any(math for _, math, _ in self._open)))

    @functools.cached_property
    def text(self) -> str:
        """The visible text, whitespace collapsed."""
        return " ".join("".join(t for t, _ in self.parts).split())

    @property
    def has_math(self) -> bool:
        return any(math and t.strip() for t, math in self.parts)

    def local_file(self, url: str) -> pathlib.Path:
        """The file a relative URL of this page names (query and fragment dropped)."""
        path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
        return (self.path.parent / path).resolve()


@dataclasses.dataclass
class Site:
    returncode: int
    stderr: str
    root: pathlib.Path
    _parsed: dict[str, Page] = dataclasses.field(default_factory=dict)

    def page(self, name: str) -> Page:
        """The page at ``name`` (relative to the site's root), parsed once."""
        if name not in self._parsed:
            self._parsed[name] = Page(self.root / name)
        return self._parsed[name]

    def pages(self) -> list[Page]:
        return [self.page(str(p.relative_to(self.root)))
                for p in sorted(self.root.rglob("*.html")) if "_static" not in p.parts]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """The HTML site, built once for every test of this module."""
    for module in ("sphinx", "furo", "numpydoc", "matplotlib"):
        pytest.importorskip(module)
    out = tmp_path_factory.mktemp("docs")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(out / "doctrees"), str(ROOT / "docs"), str(out / "html")],
        capture_output=True, text=True, timeout=900, check=False,
    )
    built = Site(result.returncode, result.stderr, out / "html")
    if not (built.root / "index.html").exists():
        pytest.fail(f"the documentation did not build:\n{result.stderr[-5000:]}")
    return built


def packaged() -> list[str]:
    """The names spikegrad itself registers: the site is built in another process, where the
    surrogates that doctests or tests registered in this one (the guide's ``laplace``) are not."""
    return [n for n in sg.available() if type(sg.get(n)).__module__.startswith("spikegrad.")]


def catalogue_order() -> list[str]:
    """The registered names in the catalogue's declaration order, then any others by name."""
    declared = [obj.registry_name for obj in map(functools.partial(getattr, surrogates),
                                                  surrogates.__all__)
                if inspect.isclass(obj) and obj.registry_name in packaged()]
    return declared + [n for n in packaged() if n not in declared]


def test_sphinx_build_without_warnings(site):
    assert site.returncode == 0, site.stderr[-5000:]
    assert "WARNING" not in site.stderr and "ERROR" not in site.stderr, site.stderr[-5000:]


def test_mathjax_is_served_by_the_site(site):
    pages = site.pages()
    with_math = [p for p in pages if p.has_math]
    assert len(with_math) > len(packaged()), "formulas missing from the pages"
    for page in pages:
        remote = [u for u in page.scripts + page.stylesheets
                  if "://" in u or u.startswith("//")]
        assert not remote, f"{page.path.name} loads {remote}: the site must work offline"
    for page in with_math:
        mathjax = [s for s in page.scripts if urllib.parse.urlsplit(s).path.endswith(
            "_static/mathjax/tex-chtml.js")]
        assert mathjax, f"{page.path} has formulas but does not load MathJax"
        script = page.local_file(mathjax[0])
        assert script.is_file() and b"MathJax" in script.read_bytes()[:200_000]
    mathjax = site.root / "_static" / "mathjax"
    for needed in ("output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff",
                   "output/chtml/fonts/woff-v2/MathJax_Math-Italic.woff",
                   "input/tex/extensions/ams.js", "LICENSE"):
        assert (mathjax / needed).is_file(), needed


def test_no_raw_latex_outside_math_elements(site):
    """Formulas are typeset only inside MathJax's elements; anywhere else TeX shows raw."""
    for page in site.pages():
        for text, in_math in page.parts:
            if in_math:
                continue
            raw = re.search(r"\\[\(\)\[\]]", text)
            assert raw is None, f"{page.path.name}: raw TeX in {text.strip()[:120]!r}"
    sigmoid = site.page("surrogates/generated/sigmoid.html")
    formulas = "".join(t for t, in_math in sigmoid.parts if in_math)
    assert r"\[g'(x) =" in formulas and r"\(H(x) = [x \ge 0]\)" in formulas


def test_every_public_method_of_surrogate_is_documented(site):
    api = site.page("api.html")
    public = [name for name, value in vars(sg.Surrogate).items()
              if not name.startswith("_") and (inspect.isfunction(value)
                                               or isinstance(value, property))]
    assert {"surrogate_grad", "surrogate_fun", "vjp", "origin", "params", "replace"} <= set(
        public)
    for name in [*public, "__call__"]:
        assert f"spikegrad.Surrogate.{name}" in api.ids, f"Surrogate.{name} is on no page"
    for name in ("Surrogate", "Param", "get", "available", "backend", "set_backend",
                 "get_backend", "BACKENDS", "cuda_source"):
        assert f"spikegrad.{name}" in api.ids, name


def test_each_surrogate_page(site):
    for name in packaged():
        surrogate = sg.get(name)
        cls = type(surrogate)
        page = site.page(f"surrogates/generated/{name}.html")
        assert f"spikegrad.{cls.__name__}" in page.ids and f"spikegrad.{name}" in page.ids
        methods = ["surrogate_grad", "vjp"] + (["surrogate_fun"] if cls.primitive else [])
        for method in methods:
            assert f"spikegrad.{cls.__name__}.{method}" in page.ids, (name, method)
        plots = [u for u in page.images if "/_images/" in u or u.startswith("../../_images")]
        assert any(u.endswith(".png") for u in plots), f"no plot on the page of {name}"
        assert "Examples" in page.text and "References" in page.text
        for param, default in surrogate.params.items():  # "alpha : float, default 4.0"
            entry = rf"\b{param}\s*:?\s*(float|int), default {re.escape(repr(default))}"
            assert re.search(entry, page.text), (name, param)
        for reference in (cls.references or "").split("; "):
            authors = reference.split("*")[0].strip()
            assert authors in page.text, f"{name}: reference {authors!r} lost in rendering"


def test_every_image_exists(site):
    count = 0
    for page in site.pages():
        for url in page.images:
            assert "://" not in url, f"{page.path.name}: remote image {url}"
            assert page.local_file(url).is_file(), f"{page.path.name}: missing image {url}"
            count += 1
    assert count >= 2 * len(packaged())  # a plot per page, a thumbnail per table row


def test_catalogue_lists_each_surrogate_once_in_declaration_order(site):
    expected = catalogue_order()
    index = site.page("surrogates/index.html")
    source = index.path.read_text(encoding="utf-8")
    table = source[source.index('<table class="spikegrad-catalogue'):]
    table = table[:table.index("</table>")]
    rows = table.split("<tr")[2:]  # [0]: before the table, [1]: the header
    names = [re.search(r'href="generated/(\w+)\.html', row).group(1) for row in rows]
    assert names == expected
    for name, row in zip(names, rows):
        assert "<img" in row, f"no thumbnail for {name}"
        for param, default in sg.get(name).params.items():
            assert f"{param}={default!r}" in row, (name, param)
    # The sidebar (the toctree) follows the same order, wherever the reader is.
    for name in ("surrogates/index.html", "api.html", "surrogates/generated/erf.html"):
        page = site.page(name)
        source = page.path.read_text(encoding="utf-8")
        sidebar = source[source.index('class="sidebar-tree"'):]
        sidebar = sidebar[:sidebar.index("</div>")]
        pages = [page.local_file(href) if href != "#" else page.path.resolve()
                 for href in re.findall(r'href="([^"]*)"', sidebar)]
        generated = (site.root / "surrogates" / "generated").resolve()
        in_sidebar = [p.stem for p in pages if p.parent == generated]
        assert in_sidebar == expected, name


def test_install_instructions_are_the_readme_s(site):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.DOTALL)
    commands = [line.strip() for block in blocks for line in block.splitlines()
                if line.strip().startswith("pip install")]
    assert len(commands) >= 2, "the README's install commands were not found"
    for name in ("index.html", "guides/quickstart.html"):
        page = site.page(name)
        for command in commands:
            assert command in page.text, f"{name} lacks the README's {command!r}"
        assert not re.search(r"pip install [\"']?spikegrad\b", page.text), (
            f"{name} installs from PyPI, where spikegrad is not published")
        # The LIF example, in both frameworks.
        for code in ("spike(v - 1.0)", "loss.backward()", "jax.lax.scan", "jax.value_and_grad"):
            assert code in page.text, (name, code)


def test_reference_names_and_footer(site):
    api = site.page("api.html")
    text = api.text
    start = text.index("spikegrad.BACKENDS")
    backends = text[start:start + 600]
    assert "Built-in immutable sequence" not in backends
    assert all(f'"{b}"' in backends for b in sg.BACKENDS), backends
    assert "spikegrad.nn.Spike" in api.ids
    for page in site.pages():
        assert not [i for i in page.ids if i.startswith("spikegrad.backends")], page.path.name
    assert re.search(r"Copyright © \d{4}, The spikegrad developers", site.page("index.html").text)
