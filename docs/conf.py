"""Sphinx configuration of the sosstats documentation site.

Build (from the repository root; warnings are errors, cross-references are checked)::

    python3 -m sphinx -W --keep-going -n -b html docs docs/_build/html

Sources: the Markdown user guides of ``docs/`` (MyST), the API reference of ``docs/api/``
(autodoc + autosummary, docstrings parsed by numpydoc) and the scripts of ``examples/``, which
sphinx-gallery runs during the build so that each example page shows its printed output and
the figures it writes.
"""

from __future__ import annotations

import importlib
import inspect
import os
import shutil
import sys
import tempfile
from pathlib import Path

import sosstats

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

# -- project ---------------------------------------------------------------------------------
project = "sosstats"
author = "sosstats developers"
copyright = "2026, sosstats developers"
version = release = sosstats.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "auto_examples/*.json",
                    "auto_examples/*.md5", "auto_examples/*.pickle"]
templates_path = ["_templates"]


# -- warnings as errors, nitpicky cross-references ---------------------------------------------
# The build runs with -W -n. sosstats' own names must all resolve. Third-party names cannot be
# resolved here: the CI machine reaches only the package registries, so intersphinx inventories
# of numpy, pandas, matplotlib... cannot be fetched. Their names in signatures and docstrings
# are left unlinked (and unchecked), by module prefix; nothing of sosstats is ignored.
nitpicky = True
_THIRD_PARTY = ("numpy", "np", "pandas", "pd", "scipy", "matplotlib", "mpl", "arviz", "az",
                "xarray", "pymc", "pytensor", "statsmodels", "linearmodels", "formulaic",
                "dask", "distributed", "rich", "jinja2", "concurrent", "collections", "typing",
                "numpy.typing", "npt", "os", "pathlib", "datetime", "random")
nitpick_ignore_regex = [
    # private modules and names (a component with a leading underscore): not part of the
    # reference; docstrings cite them for developers. The result bases they define are
    # documented (api/results), so references to those resolve before this applies.
    (r"py:.*", r"([\w.]*\.)?_[\w.]*"),
    # an instance attribute named bare in its own class's docstring (`:attr:`table``): numpydoc
    # lists instance attributes in the Attributes section, which makes no Sphinx object.
    (r"py:attr", r"\w+"),
    (r"py:.*", rf"({'|'.join(_THIRD_PARTY)})\..*"),
    # builtins and typing names as written in annotations and numpydoc types
    (r"py:.*", r"(ArrayLike|NDArray|Callable|Iterable|Iterator|Sequence|Mapping|Hashable|"
               r"Literal|Any|Self|Generator|TypeAlias|PathLike|Path|DataFrame|Series|Axes|"
               r"Figure|Generator|InferenceData|Index|MultiIndex|Categorical|Timestamp)"),
]

# sphinx_gallery_conf holds the two functions below (the scraper and the per-example reset), and
# Sphinx cannot pickle functions into its environment cache: it warns that it will not cache
# that one configuration value (so a changed value is not detected between incremental builds).
# This is the only suppressed warning; it concerns the build cache, not the content.
suppress_warnings = ["config.cache"]

# Names that docstrings cite but the package does not export, so the reference has no page for
# them: type aliases of option strings, module constants and helpers. Each could be exported or
# written as plain ``code``; until then they are shown unlinked.
nitpick_ignore = [
    ("py:class", "Alternative"),  # sosstats.survey.contrasts: Literal of the test's sides
    ("py:class", "Statistic"),  # sosstats.survey.chisq: Literal of the Rao-Scott statistics
    ("py:data", "FEW_CLUSTERS"),  # the CR2-by-default threshold (42; 20 in vfm.cea)
    ("py:data", "TIDY_COLUMNS"),
    ("py:data", "RAKE_SWEEPS"),
    ("py:data", "MIN_DRAWS"),  # sosstats.vfm.evppi
    ("py:class", "SurveyContrastResult"),  # sosstats.survey._regression_result
    ("py:func", "dfe_recovery"),  # sosstats.neighbours.reproduce
    ("py:func", "sosstats.neighbours.ranking.as_ranking"),
    ("py:func", "barnard_rubin_df"),  # sosstats.weighting.rubin
    ("py:func", "sosstats.survey.intervals.weighted_quantile"),
    ("py:func", "sosstats.survey.intervals.proportion_interval"),
    ("py:attr", "sosstats.neighbours.ComparisonResult.pooled"),
    ("py:attr", "Reproduction.sensitivity"),
]

# -- autodoc / autosummary / numpydoc --------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
numpydoc_show_class_members = False  # members are listed in each class page's template
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# Docstrings of modules other people were editing in the same session, which break the RST
# parser; each fix is applied at build time here, and is to be made in the source (then the
# entry removed). Keyed by the object's full name: (text as it is, text it should be).
_DOCSTRING_FIXES = {
    "sosstats.design.stepped_wedge": [
        ("Largest allowed |sequence mean - overall mean| of a standardised covariate.",
         "Largest allowed absolute difference between a sequence mean and the overall mean "
         "of a standardised covariate."),
    ],
}


def _fix_docstring(app, what, name, obj, options, lines) -> None:
    fixes = _DOCSTRING_FIXES.get(name)
    if not fixes:
        return
    text = "\n".join(lines)
    for old, new in fixes:
        text = text.replace(old, new)
    lines[:] = text.split("\n")


def _drop_type_docstring(app, what, name, obj, options, lines) -> None:
    """Drop the docstring a constant inherits from its type (numpy's, for an array)."""
    if what in ("data", "attribute") and not callable(obj):
        text = "\n".join(lines).strip()
        for own in (getattr(obj, "__doc__", None), getattr(type(obj), "__doc__", None)):
            if isinstance(own, str) and own and text == inspect.cleandoc(own).strip():
                lines[:] = []
                return


def _parseable_signature(app, what, name, obj, options, signature, return_annotation):
    """Dataclass fields with a default factory show ``<factory>``, which Sphinx cannot parse."""
    if signature and "<factory>" in signature:
        return signature.replace("<factory>", "..."), return_annotation
    return None


# Docstrings name objects where they are defined (sosstats.neighbours.compare.compare) or by a
# short name (DataError, MultilevelModel.fit); the reference documents each under its public
# name (sosstats.neighbours.compare). A reference that does not resolve as written is looked up
# by identity: the object it names, then the public name of that object.
_PUBLIC = ("datasets", "neighbours", "matching", "panel", "weighting", "multilevel", "survey",
           "vfm", "design", "report", "errors")


def _lookup(path: str):
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _public_names(obj) -> list[str]:
    names = []
    for sub in _PUBLIC:
        module = importlib.import_module(f"sosstats.{sub}")
        for name in getattr(module, "__all__", ()):
            if getattr(module, name, None) is obj:
                names.append(f"sosstats.{sub}.{name}")
    qualname = getattr(obj, "__qualname__", None)
    module = getattr(obj, "__module__", None)
    if qualname and module:
        names.append(f"{module}.{qualname}")
        owner, _, attr = qualname.rpartition(".")
        if owner:  # a method: the public name of its class, then the method
            cls = _lookup(f"{module}.{owner}")
            names += [f"{n}.{attr}" for n in _public_names(cls) if cls is not None]
    return names


def _public_name(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    modname, classname = node.get("py:module"), node.get("py:class")
    tries = [target]
    if not target.startswith("sosstats."):
        tries = [".".join(p for p in (modname, classname, target) if p),
                 ".".join(p for p in (modname, target) if p)]
        tries += [f"sosstats.{sub}.{target}" for sub in _PUBLIC]
    # the page's own object (api/generated/<full name>): names defined beside it
    page = node["refdoc"].rpartition("/")[2]
    owner = _lookup(page) if page.startswith("sosstats.") else None
    home = getattr(owner, "__module__", None) if owner is not None else None
    if home and not target.startswith("sosstats."):
        tries.append(f"{home}.{target}")
    domain = env.get_domain("py")
    objects = domain.objects
    for path in tries:
        obj = _lookup(path)
        if obj is None:
            continue
        for name in [path, *_public_names(obj)]:
            entry = objects.get(name)
            if entry is not None:
                from sphinx.util.nodes import make_refnode

                return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id,
                                    contnode, name)
    if node["reftype"] == "mod":  # a public sub-module: its names are on its package's page
        package = target
        while "." in package and package not in domain.modules:
            package = package.rpartition(".")[0]
        entry = domain.modules.get(package)
        if entry is not None and package.count(".") >= 1:
            from sphinx.util.nodes import make_refnode

            return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id,
                                contnode, package)
    if modname and "." not in target:  # a method named bare in a module's summary table
        found = {name: _lookup(name) for name in objects
                 if name.startswith(f"{modname}.") and name.endswith(f".{target}")}
        if found and len({id(obj) for obj in found.values()}) == 1:
            from sphinx.util.nodes import make_refnode

            name = min(found, key=len)
            entry = objects[name]
            return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id,
                                contnode, name)
    return None


# -- MyST (the Markdown guides) --------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 4
# Local links ([text](other.md), [text](#a-heading)) are resolved by Sphinx and a broken one is
# a warning (myst.xref_missing), hence an error under -W: links are checked on every build.
myst_all_links_external = False
myst_dmath_double_inline = True

# -- sphinx-gallery (the examples, run during the build) ----------------------------------------
# Each example writes its figures to $SOSSTATS_EXAMPLE_OUT and closes them, so the default
# matplotlib scraper (open figures) would see none: a scraper collects the PNG files the
# example wrote instead, and every example gets its own fresh output folder.
_GALLERY_OUT: list[Path] = []  # made at the first example, removed when the build ends


_SEEN: set[Path] = set()


def _fresh_output(gallery_conf, fname, when=None) -> None:
    """Before each example: a new, empty ``$SOSSTATS_EXAMPLE_OUT`` folder."""
    if not _GALLERY_OUT:
        _GALLERY_OUT.append(Path(tempfile.mkdtemp(prefix="sosstats-gallery-")))
    folder = _GALLERY_OUT[0] / Path(fname).stem
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["SOSSTATS_EXAMPLE_OUT"] = str(folder)
    os.environ["MPLBACKEND"] = "Agg"


def _written_figures(block, block_vars, gallery_conf) -> str:
    """Scrape the image files the example wrote to ``$SOSSTATS_EXAMPLE_OUT`` since last call."""
    from sphinx_gallery.scrapers import figure_rst

    folder = Path(os.environ["SOSSTATS_EXAMPLE_OUT"])
    new = sorted((p for p in folder.rglob("*")
                  if p.suffix.lower() in {".png", ".jpg", ".svg"} and p not in _SEEN),
                 key=lambda p: (p.stat().st_mtime, p.name))
    _SEEN.update(new)
    targets = []
    for path, target in zip(new, block_vars["image_path_iterator"]):
        target = Path(target).with_suffix(path.suffix)
        shutil.copyfile(path, target)
        targets.append(target)
    return figure_rst(targets, gallery_conf["src_dir"])


sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r".*\.py$",  # run every example (the default runs only plot_*.py)
    "ignore_pattern": r"__init__\.py",
    "image_scrapers": (_written_figures,),
    "reset_modules": ("matplotlib", _fresh_output),
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 0,
    "show_memory": False,
    "capture_repr": (),
    "within_subsection_order": "FileNameSortKey",
}

# -- HTML ------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sosstats {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False


def _clean_gallery_output(app, exception) -> None:
    for folder in _GALLERY_OUT:
        shutil.rmtree(folder, ignore_errors=True)


def setup(app):
    """Connect the docstring fixes, the reference resolver and the clean-up."""
    # before numpydoc (priority 500) reformats the docstring
    app.connect("autodoc-process-docstring", _fix_docstring, priority=100)
    app.connect("autodoc-process-docstring", _drop_type_docstring, priority=100)
    app.connect("autodoc-process-signature", _parseable_signature)
    app.connect("missing-reference", _public_name)
    app.connect("build-finished", _clean_gallery_output)
