"""Shared plotting helpers: axes, money and year axes, LA names, non-overlapping labels.

Every public ``plot()`` in sosstats follows one contract: it draws into ``ax`` when one is
passed (and creates no figure), otherwise it makes one figure with one Axes, and it returns
that :class:`matplotlib.axes.Axes`. A plot with several panels returns the
:class:`matplotlib.figure.Figure` instead and says so in its docstring. The helpers here keep
the figures fit for a report: money in pounds with thousands separators and no offset or
scientific notation (``£1,250,000``, not ``1.25 1e6``), years as whole numbers (no ``2014.5``),
local authorities by name rather than GSS code, and point labels that do not overlap.

matplotlib is imported inside the functions, so importing sosstats never imports it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from sosstats.errors import DataError

__all__ = [
    "new_axes",
    "new_figure",
    "money_axis",
    "money_label",
    "integer_year_axis",
    "plain_axis",
    "la_names",
    "label_points",
]

_MINUS = "\u2212"


def new_axes(ax: Any = None, *, figsize: tuple[float, float] = (6.0, 4.0)) -> Any:
    """Return ``ax`` if given, else the Axes of a new figure of size ``figsize`` (inches).

    Parameters
    ----------
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; returned unchanged (no figure is created).
    figsize : tuple of float
        Width and height of the new figure, used only when ``ax`` is None.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new = plt.subplots(figsize=figsize)
    return new


def _panel_figure_class() -> type:
    from matplotlib.figure import Figure

    class PanelFigure(Figure):
        """A :class:`~matplotlib.figure.Figure` of several panels that also indexes like them.

        Multi-panel ``plot()`` methods used to return a numpy array of Axes; they now return the
        Figure. So that code written against the array keeps working, ``fig[i, j]``,
        ``fig.flat``, ``fig.shape``, ``fig.size``, ``len(fig)`` and iteration give the panels
        as the array did (``fig.panels`` is the array itself).
        """

        panels: np.ndarray = np.empty(0, dtype=object)

        def __bool__(self) -> bool:                   # matplotlib tests figures for truth
            return True

        def __getitem__(self, key: Any) -> Any:
            return self.panels[key]

        def __len__(self) -> int:
            return len(self.panels)

        def __iter__(self) -> Any:
            return iter(self.panels)

        @property
        def flat(self) -> Any:
            return self.panels.flat

        @property
        def shape(self) -> tuple[int, ...]:
            return self.panels.shape

        @property
        def size(self) -> int:
            return self.panels.size

        def ravel(self) -> np.ndarray:
            return self.panels.ravel()

    PanelFigure.__module__ = __name__
    PanelFigure.__qualname__ = "PanelFigure"
    return PanelFigure


_PANEL_FIGURE: type | None = None


def __getattr__(name: str) -> Any:
    """Make ``sosstats._plotting.PanelFigure`` on first use (so that pickles find it)."""
    global _PANEL_FIGURE
    if name == "PanelFigure":
        if _PANEL_FIGURE is None:
            _PANEL_FIGURE = _panel_figure_class()
        return _PANEL_FIGURE
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def new_figure(nrows: int, ncols: int, *, figsize: tuple[float, float], ravel: bool = False,
               **kwargs: Any) -> tuple[Any, np.ndarray]:
    """Return a new multi-panel figure and its array of Axes (2-D, or 1-D with ``ravel``).

    The figure is a ``PanelFigure``: a :class:`matplotlib.figure.Figure` whose ``panels``
    attribute is the returned array and which indexes like it (``fig[0, 1]``, ``fig.flat``,
    ``len(fig)``), for code written when these plots returned the array.

    Parameters
    ----------
    nrows, ncols : int
        Grid of panels.
    figsize : tuple of float
        Figure size in inches.
    ravel : bool
        Flatten the array of Axes to 1-D.
    **kwargs
        Passed to :func:`matplotlib.pyplot.subplots`.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : numpy.ndarray of matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False,
                             FigureClass=__getattr__("PanelFigure"), **kwargs)
    axes = axes.ravel() if ravel else axes
    fig.panels = axes
    return fig, axes


def money_label(value: float, currency: str = "£", *, decimals: int = 0) -> str:
    r"""Format ``value`` as money: ``£1,250,000``, ``−£3,400``, ``£0``.

    The sign goes before the currency symbol, with a true minus sign (U+2212); the thousands
    separator is a comma; ``decimals`` digits after the point (0 by default).

    Parameters
    ----------
    value : float
        The amount.
    currency : str
        Symbol put before the digits ("£" by default; "" for none).
    decimals : int
        Digits after the decimal point.

    Returns
    -------
    str
    """
    if not math.isfinite(value):
        return ""
    text = f"{abs(value):,.{decimals}f}"
    if float(text.replace(",", "")) == 0.0:
        return f"{currency}{text}"
    return f"{_MINUS if value < 0 else ''}{currency}{text}"


def _axes_of(ax: Any, which: str) -> list[Any]:
    if which not in ("x", "y", "both"):
        raise DataError(f"which must be 'x', 'y' or 'both', got {which!r}")
    return [a for name, a in (("x", ax.xaxis), ("y", ax.yaxis)) if which in (name, "both")]


def money_axis(ax: Any, which: str = "y", currency: str = "£", *,
               decimals: int | None = None, nbins: int | None = None) -> Any:
    """Show an axis as money in ``currency`` with thousands separators and no offset text.

    Tick labels read ``£1,000,000`` (never ``1e7`` or an offset such as ``+1.2e6``). When
    ``decimals`` is None it is chosen from the tick spacing: 0 for spacings of 1 or more,
    enough digits to tell the ticks apart below that (``£0.25``).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes whose axis to format.
    which : {"x", "y", "both"}
        Which axis.
    currency : str
        Symbol before the digits ("£" by default).
    decimals : int, optional
        Digits after the decimal point; None chooses from the tick spacing.
    nbins : int, optional
        At most about this many intervals between ticks (a
        :class:`~matplotlib.ticker.MaxNLocator`), so long labels such as ``£12,500,000`` do
        not run into each other on a horizontal axis; None keeps the axis's locator.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``, for chaining.
    """
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    for axis in _axes_of(ax, which):
        def fmt(value: float, _pos: Any, axis: Any = axis) -> str:
            digits = decimals
            if digits is None:
                locs = np.asarray(axis.get_majorticklocs(), dtype=float)
                step = np.min(np.diff(np.sort(locs))) if locs.size > 1 else 1.0
                digits = 0 if not step or step >= 1 else min(6, int(math.ceil(-math.log10(step))))
            return money_label(value, currency, decimals=digits)

        axis.set_major_formatter(FuncFormatter(fmt))
        if nbins is not None:
            axis.set_major_locator(MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10]))
    return ax


def plain_axis(ax: Any, which: str = "y", *, nbins: int | None = None) -> Any:
    """Plain numbers with thousands separators, no offset or scientific notation (``12,500``).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes whose axis to format.
    which : {"x", "y", "both"}
        Which axis.
    nbins : int, optional
        At most about this many tick intervals (see :func:`money_axis`).

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``, for chaining.
    """
    return money_axis(ax, which, currency="", nbins=nbins)


def integer_year_axis(ax: Any, which: str = "x", *, years: Sequence[float] | None = None) -> Any:
    """Put ticks only at whole years on an axis and label them as plain integers (``2014``).

    Ticks come from :class:`matplotlib.ticker.MaxNLocator` with ``integer=True`` (so never
    ``2014.5``) and are labelled without thousands separators or offset (``2014``, not
    ``2.014e3`` or ``+2.01e3``). With ``years`` given and at most 12 distinct values, the ticks
    are exactly those years.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes whose axis to format.
    which : {"x", "y", "both"}
        Which axis.
    years : sequence of float, optional
        The years plotted; whole ones up to 12 become the ticks.

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``, for chaining.
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

    fixed = None
    if years is not None:
        vals = np.unique(np.asarray([y for y in years if pd.notna(y)], dtype=float))
        whole = vals[np.isclose(vals, np.round(vals))]
        if 0 < whole.size <= 12:
            fixed = np.round(whole)
    for axis in _axes_of(ax, which):
        if fixed is not None:
            axis.set_major_locator(FixedLocator(fixed))
        else:
            axis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        axis.set_minor_locator(FixedLocator([]))
        axis.set_major_formatter(FuncFormatter(
            lambda v, _pos: f"{int(round(v))}" if abs(v - round(v)) < 1e-6 else ""))
    return ax


@functools.lru_cache(maxsize=1)
def _shipped_names() -> dict[str, str]:
    """GSS (and old three-digit) code -> LA name, from the shipped statistical-neighbour lists."""
    from sosstats.datasets.loaders import load_statistical_neighbours

    names: dict[str, str] = {}
    for model in ("2021", "2025"):
        try:
            frame = load_statistical_neighbours(model)
        except Exception:                            # a model not shipped: use what there is
            continue
        pairs = [("la_code", "la_name"), ("old_la_code", "la_name"),
                 ("neighbour", "neighbour_name"), ("neighbour_old_la_code", "neighbour_name")]
        for code_col, name_col in pairs:
            if code_col in frame and name_col in frame:
                sub = frame[[code_col, name_col]].dropna().drop_duplicates(code_col)
                for code, name in zip(sub[code_col].astype(str), sub[name_col].astype(str)):
                    names.setdefault(code, name)
    return names


def _short_name(name: str) -> str:
    """"Bristol, City of" -> "Bristol"; "Herefordshire, County of" -> "Herefordshire"."""
    for suffix in (", City of", ", County of", ", City of UA", ", County of UA"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def la_names(codes: Iterable[Any], *, names: Mapping[str, str] | pd.DataFrame | None = None,
             short: bool = True) -> list[str]:
    """Map LA codes to LA names for labels, falling back to the code for unknown ones.

    Names come from ``names`` first (a mapping code -> name, or a frame with ``la_code`` and
    ``la_name`` columns such as ``simulate_evaluation().las``), then from the shipped DfE
    statistical-neighbour lists (:func:`sosstats.datasets.load_statistical_neighbours`), which
    cover every English LA by GSS code (``E06000023``) and old three-digit code (``801``).

    Parameters
    ----------
    codes : iterable
        LA codes (or anything; non-codes are returned as text).
    names : mapping or DataFrame, optional
        Extra or overriding code -> name pairs.
    short : bool
        Drop the ", City of" / ", County of" suffixes ("Bristol", not "Bristol, City of").

    Returns
    -------
    list of str
        One label per code, in order.
    """
    extra: dict[str, str] = {}
    if isinstance(names, pd.DataFrame):
        if "la_code" not in names or "la_name" not in names:
            raise DataError("names must have columns 'la_code' and 'la_name'")
        extra = dict(zip(names["la_code"].astype(str), names["la_name"].astype(str)))
    elif names is not None:
        extra = {str(k): str(v) for k, v in dict(names).items()}
    shipped = _shipped_names()
    out = []
    for code in codes:
        key = str(code)
        name = extra.get(key) or shipped.get(key) or key
        out.append(_short_name(name) if short else name)
    return out


def _renderer(fig: Any) -> Any:
    get = getattr(fig.canvas, "get_renderer", None)
    if get is not None:
        return get()
    return fig._get_renderer()                       # pragma: no cover - non-Agg canvases


def _overlaps(box: np.ndarray, boxes: np.ndarray, pad: float) -> bool:
    """Whether ``box`` (x0, y0, x1, y1) intersects any row of ``boxes`` (with padding)."""
    if boxes.size == 0:
        return False
    return bool(np.any((box[0] < boxes[:, 2] + pad) & (box[2] + pad > boxes[:, 0])
                       & (box[1] < boxes[:, 3] + pad) & (box[3] + pad > boxes[:, 1])))


def label_points(ax: Any, x: Sequence[float], y: Sequence[float], labels: Sequence[str], *,
                 fontsize: float = 8.0, pad: float = 2.0, leader: bool = True,
                 **text_kwargs: Any) -> list[Any]:
    """Label points so that no two labels overlap (a deterministic greedy placement).

    Each label is tried at candidate positions around its point, nearest first: the four
    diagonal corners, then right/left/above/below, then the same at growing distances
    (steps of the label height). It takes the first position whose box, padded by ``pad``
    points, meets neither an already placed label nor any labelled point (nor the legend, if
    drawn already), preferring positions inside the axes. Labels are placed from the most
    crowded point outwards in a fixed order, so the result is the same on every run. A label
    moved away from its point gets a thin leader line. The boxes are measured on the figure's
    renderer, so set the axis limits first; resizing the figure afterwards (``tight_layout``
    on a very different size) can bring labels back together.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes holding the points (data coordinates).
    x, y : sequence of float
        Point positions.
    labels : sequence of str
        One label per point.
    fontsize : float
        Label font size in points.
    pad : float
        Minimum gap between labels, in points.
    leader : bool
        Draw a line from a displaced label to its point.
    **text_kwargs
        Passed to :meth:`matplotlib.axes.Axes.annotate`.

    Returns
    -------
    list of matplotlib.text.Annotation
        The labels, in the order of ``labels``.
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    labels = [str(s) for s in labels]
    if not (xs.shape == ys.shape == (len(labels),)):
        raise DataError("label_points needs x, y and labels of the same length, got "
                        f"{xs.size}, {ys.size} and {len(labels)}")
    fig = ax.figure
    ax.get_xlim(), ax.get_ylim()                     # settle any pending autoscaling first
    renderer = _renderer(fig)
    px_per_pt = fig.dpi / 72.0
    anchors = ax.transData.transform(np.column_stack([xs, ys])) if xs.size else np.empty((0, 2))
    frame = ax.get_window_extent(renderer)
    dot = 2.5 * px_per_pt
    points = np.column_stack([anchors - dot, anchors + dot]) if xs.size else np.empty((0, 4))
    finite = np.isfinite(anchors).all(axis=1) if xs.size else np.zeros(0, bool)
    legend = ax.get_legend()
    if legend is not None:                            # keep labels off the legend too
        lb = legend.get_window_extent(renderer)
        points = np.vstack([points, [[lb.x0, lb.y0, lb.x1, lb.y1]]])

    sizes = []
    for lab in labels:                                # measure each label, then remove it
        probe = ax.text(0, 0, lab, fontsize=fontsize, transform=None, **_text_only(text_kwargs))
        ext = probe.get_window_extent(renderer)
        sizes.append((ext.width, ext.height))
        probe.remove()

    # most crowded first: points with the most neighbours within 60 points go first
    if xs.size:
        dist = np.hypot(*(anchors[:, None, :] - anchors[None, :, :]).transpose(2, 0, 1))
        crowd = (np.where(np.isfinite(dist), dist, np.inf) < 60 * px_per_pt).sum(axis=1)
        order = np.lexsort((np.arange(xs.size), -crowd))
    else:
        order = np.array([], dtype=int)
    gap = 3.0 * px_per_pt
    pad_px = pad * px_per_pt
    placed = np.empty((0, 4))
    offsets: dict[int, tuple[float, float, bool]] = {}
    for i in order:
        if not finite[i]:
            continue
        w, h = sizes[int(i)]
        ax0, ay0 = anchors[i]
        others = np.delete(points, i, axis=0)
        best = None
        fallback = None
        for ring in range(40):
            r = ring * (h + pad_px)
            cands = [(gap, gap + r), (-w - gap, gap + r), (gap, -h - gap - r),
                     (-w - gap, -h - gap - r), (gap + r, -h / 2), (-w - gap - r, -h / 2),
                     (-w / 2, gap + r), (-w / 2, -h - gap - r)]
            for dx, dy in cands:
                box = np.array([ax0 + dx, ay0 + dy, ax0 + dx + w, ay0 + dy + h])
                if _overlaps(box, placed, pad_px) or _overlaps(box, others, 0.0):
                    continue
                inside = (box[0] >= frame.x0 and box[2] <= frame.x1
                          and box[1] >= frame.y0 and box[3] <= frame.y1)
                if inside:
                    best = (dx, dy, box)
                    break
                if fallback is None:
                    fallback = (dx, dy, box)
            if best is not None:
                break
        chosen = best or fallback
        if chosen is None:                            # pragma: no cover - 320 positions all taken
            continue
        dx, dy, box = chosen
        placed = np.vstack([placed, box])
        far = math.hypot(dx + w / 2, dy + h / 2) > (w / 2 + h + 3 * gap)
        offsets[int(i)] = (dx / px_per_pt, dy / px_per_pt, far)

    texts = []
    for i, (lab, xi, yi) in enumerate(zip(labels, xs, ys)):
        dx, dy, far = offsets.get(i, (0.0, 0.0, False))
        t = ax.annotate(lab, xy=(xi, yi), xytext=(dx, dy), textcoords="offset points",
                        fontsize=fontsize, ha="left", va="bottom", annotation_clip=False,
                        **text_kwargs)
        t.set_visible(i in offsets)
        texts.append(t)
        if leader and far:                           # a separate, text-less leader line
            w, h = (s_ / px_per_pt for s_ in sizes[i])
            end = (min(max(0.0, dx), dx + w), min(max(0.0, dy), dy + h))
            ax.annotate("", xy=(xi, yi), xytext=end, textcoords="offset points",
                        arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "0.5",
                                    "shrinkA": 0, "shrinkB": 2}, annotation_clip=False)
    return texts


def _text_only(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Keep the keyword arguments that change a label's size (font properties)."""
    keep = ("fontweight", "weight", "fontfamily", "family", "fontstyle", "style", "fontsize",
            "size", "fontproperties")
    return {k: v for k, v in kwargs.items() if k in keep}
