"""Small fake strand modules for the report tests (the real strands are tested on their own).

``install(monkeypatch)`` registers them in ``sys.modules`` and points
``sosstats.report.strands.STRANDS`` at them: alpha (real data, a published frame, a pyplot
figure, a warning), beta (simulated, a truth frame, a Figure object, uses a ``families`` frame)
and gamma (raises).
"""

from __future__ import annotations

import types
import warnings

import numpy as np
import pandas as pd

from sosstats.errors import SosstatsWarning
from sosstats.report import Section

CALLS: list[str] = []


def _alpha(ctx):
    import matplotlib.pyplot as plt

    CALLS.append("alpha")
    ctx.step(0.5, "half way")
    warnings.warn("only 10 pilots: few clusters", SosstatsWarning)
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar(["pilots", "neighbours"], [61.2, 44.0], color=["#1d4e89", "#e8a33d"])
    ax.set_title("ICPC rate per 10,000")
    published = pd.DataFrame({"quantity": ["icpc pilots", "icpc neighbours", "cla pilots"],
                              "published": [61.0, 44.0, 52.0],
                              "recomputed": [61.2, 43.8, 51.4], "source": ["T4", "T4", "T4"]})
    headline = pd.DataFrame({"indicator": ["icpc", "cla"], "year": [2016, 2016],
                             "children": [12345, 678], "difference": [17.2, -0.004321]})
    ctx.step(1.0, "done")
    return Section(key="alpha", title="Alpha: pilots against neighbours",
                   question="Did the pilots differ from their *neighbours*? <script>x</script>",
                   method="A paired comparison.\n\nSecond paragraph with `code`.",
                   tables={"headline": headline}, figures={"bars": fig},
                   naive="The naive difference is **17.2** per 10,000.",
                   caveats=["Ten pilots only.", "Rates | not counts."],
                   published=published, captions={"bars": "Pilots and neighbours, 2015/16.",
                                                  "headline": "The headline table."})


def _beta(ctx):
    from matplotlib.figure import Figure

    CALLS.append("beta")
    rng = ctx.rng("beta")
    if "families" in ctx.frames:
        families = ctx.frame("families")
        change = float((families["t2"] - families["t1"]).mean())
    else:
        change = float(rng.normal(0.3, 0.01))
    fig = Figure(figsize=(5, 3))
    ax = fig.add_subplot()
    ax.plot(np.arange(10), np.cumsum(rng.normal(size=10)), marker="o")
    truth = pd.DataFrame({"quantity": ["mean change"], "truth": [0.3], "estimate": [change],
                          "ci_lower": [change - 0.1], "ci_upper": [change + 0.1],
                          "covered": [True]})
    table = pd.DataFrame({"estimate": [change, 0.25]},
                         index=pd.Index(["all", "experienced"], name="group"))
    return Section(key="beta", title="Beta: change T1 to T2", question="How much change?",
                   method="First differences.", tables={"by_group": table},
                   figures={"trace": fig}, naive="A pooled t test says 0.31.",
                   simulated=True, truth=truth, notes=["a note"],
                   results={"change": change})


def _gamma(ctx):
    CALLS.append("gamma")
    raise RuntimeError("gamma broke on purpose")


def _module(name, run, title, frames):
    m = types.ModuleType(f"_report_fake_{name}")
    m.KEY, m.TITLE, m.FRAMES, m.run = name, title, frames, run
    return m


MODULES = {
    "alpha": _module("alpha", _alpha, "Alpha: pilots against neighbours",
                     {"la_indicators": ("la_code", "value")}),
    "beta": _module("beta", _beta, "Beta: change T1 to T2",
                    {"families": ("family_id", "t1", "t2")}),
    "gamma": _module("gamma", _gamma, "Gamma: breaks", {}),
}


def install(monkeypatch, **extra):
    """Point the strand registry at alpha, beta, gamma (and any ``extra`` key=module)."""
    from sosstats.report import strands

    modules = {**MODULES, **extra}
    for key, module in modules.items():
        monkeypatch.setitem(__import__("sys").modules, module.__name__, module)
    monkeypatch.setattr(strands, "STRANDS", {k: m.__name__ for k, m in modules.items()})
    CALLS.clear()
    return modules
