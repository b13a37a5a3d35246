"""Run reports: every curate, audit and train run writes PREFIX.json and PREFIX.html.

The input is one plain dict, the run's summary. `kind`, `run_id`, `created_at` and `title`
are required; every other key is a section, rendered when present, in this order:

    lines          [str]                       the short text summary at the top
    links          {label: relative path}      e.g. the decontamination report, the shards manifest
    funnel         [{"step", "rows_in", "rows_out", "dropped": {reason: rows}}]
                   the dropped rows of a step must add up to rows_in - rows_out
    difficulty     {"bins": [edges], "before": {source: [count per bin]}, "after": {...}}
                   (see `difficulty_histogram`; either of before/after may be absent)
    verdicts       {status: count}  the verdicts of the samples the run drew, per status
                   (assay.curricula.difficulty.STATUSES; absent statuses are 0)
    contamination  [{"benchmark", "layer", "findings", "rows"}]  one entry per benchmark x layer
    memorization   [{"benchmark", "items", "items_above_control", and each score S of
                     MEMORIZATION_SCORES with its controls' "control_" + S}]  one entry per benchmark
    curriculum     {"stage_rows": {stage: rows}, "stage_weight": {stage: weight},
                    "source_weight": {source: weight}, "replay_weight": weight}
    training       {"step": [int], "reward": [x], "heldout_accuracy": [x | None],
                    "heldout_pass_at_k": [x | None], "zero_variance_fraction": [x]}
                   every series as long as `step`; None: no value at that step (no eval ran)
    settings       {name: str | number | bool | None}   what the run was asked to do

An unknown key, a wrong type or numbers that do not add up raise AssayError naming the key,
the entry and the value, before any file is written. PREFIX.json is the summary as given
(sorted keys); PREFIX.html is self-contained: inline CSS and SVG charts, no scripts, no
fonts or anything else fetched, and a Content-Security-Policy that forbids both. Every piece
of text is escaped: prompts, sources and step names are untrusted input.

`page` and `write_pair` are the scaffold shared with the decontamination report.

Example:
    >>> difficulty_histogram({"web": [0.0, 0.05, 0.5, 1.0]}, bins=4)
    Histogram(bins=[0.0, 0.25, 0.5, 0.75, 1.0], counts={'web': [2, 0, 1, 1]})
    >>> summary = {"kind": "curate", "run_id": "curate-1", "created_at": "2025-06-01T12:00:00+00:00",
    ...            "title": "Curate <web>", "lines": ["8 of 10 rows kept"],
    ...            "funnel": [{"step": "dedup", "rows_in": 10, "rows_out": 8, "dropped": {"duplicate": 2}}]}
    >>> html_text = render_html(summary)
    >>> "Curate &lt;web&gt;" in html_text and "<script" not in html_text
    True
    >>> render_html({**summary, "funnel": [{"step": "dedup", "rows_in": 10, "rows_out": 8, "dropped": {}}]})
    Traceback (most recent call last):
    ...
    assay.pipelines.errors.AssayError: report summary: funnel[0] ('dedup'): dropped adds up to 0 rows, rows_in - rows_out is 2
"""

from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import quote, urlsplit

from assay.curricula.difficulty import DECIDED, STATUSES, VERIFIER_FAILURES
from assay.pipelines.errors import AssayError
from assay.pipelines.reports.charts import AFTER, BEFORE, Frame, bar_chart_svg, e, fmt, funnel_svg, line_chart_svg
from assay.verifiers.names import UnknownName

KINDS = ("curate", "audit", "train")
HEADER_KEYS = ("kind", "run_id", "created_at", "title")

# Colours of the reasons and series (BEFORE and AFTER are the charts' own).
REASON_COLOURS = ("#f97316", "#e11d48", "#a855f7", "#eab308", "#14b8a6", "#64748b",  # cycled past 12 reasons
                  "#db2777", "#84cc16", "#0891b2", "#92400e", "#4f46e5", "#be123c")
SERIES = {  # training series: (label, colour)
    "reward": ("mean reward", "#2563eb"),
    "heldout_accuracy": ("held-out accuracy", "#16a34a"),
    "heldout_pass_at_k": ("held-out pass@k", "#9333ea"),
    "zero_variance_fraction": ("zero-variance fraction", "#dc2626"),
}
TRAINING_CHARTS = (  # (title, series, fixed y range or None for the data's range, caption)
    ("Reward", ("reward",), None, "Mean reward of the rollouts at each step."),
    ("Held-out evaluation", ("heldout_accuracy", "heldout_pass_at_k"), (0.0, 1.0),
     "Points are the steps where an evaluation ran."),
    ("Zero-variance fraction", ("zero_variance_fraction",), (0.0, 1.0),
     "Share of prompts whose rollouts all got the same reward: no GRPO signal."),
)

CSS = """
:root{--ink:#1f2933;--muted:#616e7c;--line:#d9e2ec;--bg:#f5f7fa;--head:#eef2f7}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
 font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:24px 32px 48px}
h1{font-size:24px;margin:0 0 4px;font-weight:650}
h2{font-size:17px;margin:0 0 4px;font-weight:650}
main>h2{margin-top:22px}
h3{font-size:14px;margin:0;font-weight:600;overflow-wrap:anywhere}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 20px;margin:16px 0}
.caption,.meta{color:var(--muted);font-size:12.5px;margin:0 0 10px}
.badge{display:inline-block;padding:1px 9px;border-radius:10px;background:#dbe7fd;color:#1e40af;
 font-size:12px;font-weight:650;letter-spacing:.04em;text-transform:uppercase;vertical-align:middle;margin-right:8px}
ul.lines{margin:12px 0 0;padding-left:20px;font-size:15px}
table{border-collapse:collapse;margin:8px 0;background:#fff}
td,th{border:1px solid var(--line);padding:4px 10px;text-align:left;vertical-align:top}
th{background:var(--head);font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums}
td small,th small{display:block;color:var(--muted);font-size:11.5px;font-weight:400}
.none{color:#9aa5b1;text-align:center}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:14px}
.grid2{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:14px}
.panel{border:1px solid var(--line);border-radius:6px;padding:10px 12px}
.legend{font-size:12.5px;color:var(--muted);margin:4px 0 8px}
.legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:-1px}
.hbar{background:var(--head);border-radius:3px;height:12px;min-width:160px}
.hbar div{background:#2563eb;height:12px;border-radius:3px}
svg{display:block;width:100%;height:auto}
svg text{font-size:11px;fill:#52606d;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
.pair td{width:50%;white-space:pre-wrap;word-break:break-word;font-family:ui-monospace,monospace;font-size:12px}
.span{background:#fff3b0}
"""


def page(title: str, body: str) -> str:
    """A whole self-contained HTML page: the shared CSS, and a Content-Security-Policy that
    allows inline styles and nothing else (no scripts, no fetches). `title` is escaped; `body`
    is HTML the caller has escaped."""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>\n"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
        f"<title>{e(title)}</title>\n<style>{CSS}</style></head>\n<body><main>\n{body}\n</main></body></html>\n"
    )


def write_pair(prefix: Path, json_text: str, html_text: str) -> tuple[Path, Path]:
    """Write PREFIX.json and PREFIX.html (creating the folder); returns both paths."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    json_path, html_path = prefix.with_name(prefix.name + ".json"), prefix.with_name(prefix.name + ".html")
    json_path.write_text(json_text, encoding="utf-8")
    html_path.write_text(html_text, encoding="utf-8")
    return json_path, html_path


# -- the difficulty histogram -------------------------------------------------------------------


@dataclass(frozen=True)
class Histogram:
    bins: list[float]  # bins + 1 edges from 0.0 to 1.0; bin i is [edge i, edge i+1), the last one closed
    counts: dict[str, list[int]]  # source -> rows per bin


def difficulty_histogram(pass_rates_by_source: Mapping[str, Sequence[float]], bins: int = 10) -> Histogram:
    """Rows per pass-rate bin for each source: equal-width bins over [0, 1], 1.0 in the last.

    The summary's "difficulty" section is `{"bins": h.bins, "before": h.counts, "after": ...}`
    with both histograms made with the same `bins`.
    """
    if not isinstance(bins, int) or bins < 1:
        raise AssayError(f"difficulty histogram: bins must be a positive integer, got {bins!r}")
    # i / bins is the correctly rounded edge, the same float a rate computed as i / bins has, so
    # a rate on an edge falls into the bin that starts there.
    edges = [i / bins for i in range(bins + 1)]
    counts: dict[str, list[int]] = {}
    for source, rates in pass_rates_by_source.items():
        row = [0] * bins
        for i, rate in enumerate(rates):
            if not 0.0 <= rate <= 1.0:  # NaN fails this too
                raise AssayError(f"difficulty histogram: source {source!r} row {i}: pass rate {rate!r} is not in [0, 1]")
            row[min(bisect.bisect_right(edges, rate) - 1, bins - 1)] += 1
        counts[source] = row
    return Histogram(edges, counts)


# -- validation -----------------------------------------------------------------------------------


def _fail(where: str, problem: str) -> AssayError:
    return AssayError(f"report summary: {where}: {problem}")


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _fail(where, f"expected text, got {type(value).__name__} {value!r}")
    return value


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(where, f"expected a row count (an integer >= 0), got {type(value).__name__} {value!r}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(where, f"expected a finite number, got {type(value).__name__} {value!r}")
    return value


def _mapping(value: Any, where: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise _fail(where, f"expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list:
    if not isinstance(value, (list, tuple)):
        raise _fail(where, f"expected a list, got {type(value).__name__}")
    return list(value)


def _keys(value: Mapping, where: str, required: Sequence[str], optional: Sequence[str] = ()) -> None:
    missing = [k for k in required if k not in value]
    unknown = [k for k in value if k not in required and k not in optional]
    if missing:
        raise _fail(where, f"missing {missing}; the keys are {[*required, *optional]}")
    if unknown:
        raise _fail(where, str(UnknownName("key", tuple(unknown), [*required, *optional])))


# -- sections: (summary value) -> HTML; each checks its value as it goes ---------------------------


def _section(title: str, caption: str, body: str) -> str:
    return f"<section><h2>{e(title)}</h2><p class='caption'>{e(caption)}</p>{body}</section>"


def _legend(items: Sequence[tuple[str, str]]) -> str:
    return "<div class='legend'>" + "".join(
        f"<span><i class='sw' style='background:{colour}'></i>{e(name)}</span>" for name, colour in items) + "</div>"


def section_lines(value: Any) -> str:
    lines = [_text(line, f"lines[{i}]") for i, line in enumerate(_list(value, "lines"))]
    return "<ul class='lines'>" + "".join(f"<li>{e(line)}</li>" for line in lines) + "</ul>"


def section_links(value: Any) -> str:
    items = []
    for label, href in _mapping(value, "links").items():
        where = f"links[{label!r}]"
        parts = urlsplit(_text(href, where))
        if parts.scheme or parts.netloc or href.startswith("/"):
            raise _fail(where, f"expected a path relative to the report, got {href!r}")
        items.append(f"<li><a href='{e(quote(href, safe='/#?=&%'))}'>{e(_text(label, where))}</a>"
                     f" <span class='meta'>{e(href)}</span></li>")
    return _section("Related files", "Paths relative to this report.", f"<ul>{''.join(items)}</ul>")


def section_settings(value: Any) -> str:
    rows = []
    for name, setting in _mapping(value, "settings").items():
        where = f"settings[{name!r}]"
        if isinstance(setting, (int, float)) and not isinstance(setting, bool):
            _number(setting, where)  # finite: NaN cannot be written as JSON
        elif setting is not None and not isinstance(setting, (str, bool)):
            raise _fail(where, f"expected text, a number, true/false or null, got {type(setting).__name__}")
        rows.append(f"<tr><td>{e(_text(name, 'settings'))}</td><td>{e(json.dumps(setting, ensure_ascii=False))}</td></tr>")
    return _section("Settings", "What this run was asked to do.",
                    "<table><tr><th>setting</th><th>value</th></tr>" + "".join(rows) + "</table>")


def section_funnel(value: Any) -> str:
    steps = _list(value, "funnel")
    for i, step in enumerate(steps):
        where = f"funnel[{i}]"
        _keys(_mapping(step, where), where, ("step", "rows_in", "rows_out", "dropped"))
        where = f"funnel[{i}] ({_text(step['step'], where + '.step')!r})"
        rows_in, rows_out = _count(step["rows_in"], where + ".rows_in"), _count(step["rows_out"], where + ".rows_out")
        dropped = {_text(r, where + ".dropped"): _count(n, f"{where}.dropped[{r!r}]")
                   for r, n in _mapping(step["dropped"], where + ".dropped").items()}
        if rows_out > rows_in:
            raise _fail(where, f"rows_out {rows_out} is more than rows_in {rows_in}")
        if sum(dropped.values()) != rows_in - rows_out:
            raise _fail(where, f"dropped adds up to {sum(dropped.values())} rows, "
                               f"rows_in - rows_out is {rows_in - rows_out}")
    if not steps:
        return _section("Funnel", "Rows in and out of each step.", "<p>No steps ran.</p>")
    reasons = list(dict.fromkeys(r for step in steps for r in step["dropped"]))
    colours = {r: REASON_COLOURS[i % len(REASON_COLOURS)] for i, r in enumerate(reasons)}
    table = ["<table><tr><th>step</th><th>reason</th><th>rows</th><th>share of the step's rows</th></tr>"]
    for step in steps:
        for reason, n in step["dropped"].items():
            share = n / step["rows_in"] if step["rows_in"] else 0.0
            table.append(f"<tr><td>{e(step['step'])}</td><td><i class='sw' style='background:{colours[reason]}'></i>"
                         f"{e(reason)}</td><td class='num'>{n:,}</td><td class='num'>{share:.1%}</td></tr>")
    table.append("</table>")
    first, last = steps[0]["rows_in"], steps[-1]["rows_out"]
    caption = (f"Rows in and out of each step, with the reason every dropped row was dropped: "
               f"{first:,} rows in, {last:,} out.")
    return _section("Funnel", caption, _legend([("kept", AFTER)] + [(r, colours[r]) for r in reasons])
                    + funnel_svg(steps, colours) + ("".join(table) if reasons else ""))


def section_difficulty(value: Any) -> str:
    value = _mapping(value, "difficulty")
    _keys(value, "difficulty", ("bins",), ("before", "after"))
    edges = [_number(b, f"difficulty.bins[{i}]") for i, b in enumerate(_list(value["bins"], "difficulty.bins"))]
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise _fail("difficulty.bins", f"expected at least 2 increasing edges, got {edges}")
    phases = [(p, _mapping(value[p], f"difficulty.{p}")) for p in ("before", "after") if p in value]
    if not phases:
        raise _fail("difficulty", "needs 'before', 'after' or both")
    for phase, counts in phases:
        for source, row in counts.items():
            where = f"difficulty.{phase}[{_text(source, f'difficulty.{phase}')!r}]"
            if len(_list(row, where)) != len(edges) - 1:
                raise _fail(where, f"{len(row)} counts for {len(edges) - 1} bins")
            for i, n in enumerate(row):
                _count(n, f"{where}[{i}]")
    labels = [fmt(b) for b in edges]
    colour = {"before": BEFORE, "after": AFTER}
    panels = []
    for source in dict.fromkeys(s for _, counts in phases for s in counts):
        rows = [(p, colour[p], counts.get(source, [0] * (len(edges) - 1))) for p, counts in phases]
        totals = " \u2192 ".join(f"{p} {sum(r):,}" for p, _, r in rows)
        panels.append(f"<div class='panel'><h3>{e(source)}</h3><p class='meta'>{e(totals)} rows</p>"
                      + bar_chart_svg(rows, labels, f"pass-rate histogram of {source}") + "</div>")
    caption = ("Rows per pass-rate bin for each source (pass rate: the share of sampled answers the verifier "
               "accepted; 0 is unsolved, 1 is always solved)"
               + (", before and after filtering." if len(phases) == 2 else "."))
    return _section("Difficulty", caption, _legend([(p, colour[p]) for p, _ in phases])
                    + "<div class='grid'>" + "".join(panels) + "</div>")


def section_verdicts(value: Any) -> str:
    counts = {_text(s, "verdicts"): _count(n, f"verdicts[{s!r}]") for s, n in _mapping(value, "verdicts").items()}
    unknown = [s for s in counts if s not in STATUSES]
    if unknown:
        raise _fail("verdicts", str(UnknownName("status", tuple(unknown), STATUSES)))
    total = sum(counts.values())
    meaning = {**dict.fromkeys(DECIDED, "decided: counts toward pass rates"),
               **dict.fromkeys(VERIFIER_FAILURES, "the verifier failed: never scored, sampled again"),
               "bad_gold": "the reference failed: the prompt has no pass rate"}
    rows = "".join(f"<tr><td>{e(s)}</td><td class='num'>{counts.get(s, 0):,}</td>"
                   f"<td class='num'>{counts.get(s, 0) / total if total else 0.0:.1%}</td><td>{e(meaning[s])}</td></tr>"
                   for s in STATUSES)
    return _section("Verdicts", f"The verifier's verdicts on the {total:,} samples this run drew.",
                    f"<table><tr><th>status</th><th>samples</th><th>share</th><th>meaning</th></tr>{rows}</table>")


def section_contamination(value: Any) -> str:
    cells: dict[tuple[str, str], tuple[int, int]] = {}
    for i, entry in enumerate(_list(value, "contamination")):
        where = f"contamination[{i}]"
        _keys(_mapping(entry, where), where, ("benchmark", "layer", "findings", "rows"))
        key = (_text(entry["benchmark"], where + ".benchmark"), _text(entry["layer"], where + ".layer"))
        if key in cells:
            raise _fail(where, f"benchmark {key[0]!r} layer {key[1]!r} appears twice")
        cells[key] = (_count(entry["findings"], where + ".findings"), _count(entry["rows"], where + ".rows"))
    if not cells:
        return _section("Contamination", "Findings per benchmark and layer.", "<p>No benchmarks were checked.</p>")
    benchmarks = list(dict.fromkeys(b for b, _ in cells))
    layers = list(dict.fromkeys(layer for _, layer in cells))
    most = max(f for f, _ in cells.values()) or 1
    out = ["<table><tr><th>benchmark</th>" + "".join(f"<th>{e(layer)}</th>" for layer in layers)
           + "<th>all layers</th></tr>"]
    for b in benchmarks:
        row = [f"<tr><td>{e(b)}</td>"]
        for layer in layers:
            if (b, layer) not in cells:
                row.append("<td class='none'>\u2013</td>")
                continue
            findings, rows = cells[(b, layer)]
            # Shade by findings, relative to the worst cell: where to look first.
            shade = f" style='background:rgba(220,38,38,{0.08 + 0.32 * findings / most:.3f})'" if findings else ""
            row.append(f"<td class='num'{shade}>{findings:,}<small>{rows:,} rows</small></td>")
        total = sum(cells[(b, layer)][0] for layer in layers if (b, layer) in cells)
        out.append("".join(row) + f"<td class='num'><b>{total:,}</b></td></tr>")
    out.append("</table>")
    caption = ("Findings per benchmark and detection layer, and the rows they were found in; "
               "\u2013: the layer did not run for that benchmark.")
    return _section("Contamination", caption, "".join(out))


def section_curriculum(value: Any) -> str:
    value = _mapping(value, "curriculum")
    _keys(value, "curriculum", ("stage_rows", "stage_weight", "source_weight", "replay_weight"))
    stage_rows = {s: _count(n, f"curriculum.stage_rows[{s!r}]")
                  for s, n in _mapping(value["stage_rows"], "curriculum.stage_rows").items()}
    stage_weight = {s: _number(w, f"curriculum.stage_weight[{s!r}]")
                    for s, w in _mapping(value["stage_weight"], "curriculum.stage_weight").items()}
    if set(stage_weight) != set(stage_rows):
        raise _fail("curriculum.stage_weight", f"stages {list(stage_weight)} differ from stage_rows' {list(stage_rows)}")
    source_weight = {_text(s, "curriculum.source_weight"): _number(w, f"curriculum.source_weight[{s!r}]")
                     for s, w in _mapping(value["source_weight"], "curriculum.source_weight").items()}
    replay = _number(value["replay_weight"], "curriculum.replay_weight")
    body = []
    if stage_rows:
        chart = bar_chart_svg([("rows", AFTER, list(stage_rows.values()))], [f"stage {s}" for s in stage_rows],
                              "rows per curriculum stage", Frame(520, 200, 52, 12, 8, 26))
        table = "".join(f"<tr><td>stage {e(s)}</td><td class='num'>{n:,}</td>"
                        f"<td class='num'>{stage_weight[s]:.4f}</td></tr>" for s, n in stage_rows.items())
        body.append(f"<div class='grid2'><div>{chart}</div><div><table><tr><th>stage</th><th>rows</th><th>weight</th></tr>"
                    f"{table}</table></div></div>")
    top = max(source_weight.values(), default=0.0) or 1.0
    body.append("<h3>Mixture</h3><table><tr><th>source</th><th>weight</th><th></th></tr>" + "".join(
        f"<tr><td>{e(s)}</td><td class='num'>{w:.4f}</td><td><div class='hbar'><div style='width:{100 * w / top:.1f}%'>"
        "</div></div></td></tr>" for s, w in source_weight.items()) + "</table>")
    body.append(f"<p>Replay: weight {replay:.4f} on easy prompts replayed in every stage.</p>")
    return _section("Curriculum", "Stages run easiest first; weights are each row's share of the sampling.", "".join(body))


def section_training(value: Any) -> str:
    value = _mapping(value, "training")
    _keys(value, "training", ("step",), tuple(SERIES))
    steps = [_count(s, f"training.step[{i}]") for i, s in enumerate(_list(value["step"], "training.step"))]
    if not steps or any(b <= a for a, b in zip(steps, steps[1:])):
        raise _fail("training.step", "expected a non-empty, increasing list of steps")
    for key in SERIES:
        if key in value:
            values = _list(value[key], f"training.{key}")
            if len(values) != len(steps):
                raise _fail(f"training.{key}", f"{len(values)} values for {len(steps)} steps")
            for i, v in enumerate(values):
                if v is None:
                    continue
                _number(v, f"training.{key}[{i}]")
                if key != "reward" and not 0.0 <= v <= 1.0:  # the others are shares: their charts span [0, 1]
                    raise _fail(f"training.{key}[{i}]", f"expected a fraction in [0, 1], got {v!r}")
    panels = []
    for title, keys, y_range, caption in TRAINING_CHARTS:
        shown = [k for k in keys if k in value]
        if not shown:
            continue
        series = [(SERIES[k][0], SERIES[k][1], value[k]) for k in shown]
        last = [(f"{name} (last {fmt(next(v for v in reversed(vals) if v is not None))})"
                 if any(v is not None for v in vals) else name, colour) for name, colour, vals in series]
        panels.append(f"<div class='panel'><h3>{e(title)}</h3><p class='meta'>{e(caption)}</p>{_legend(last)}"
                      + line_chart_svg(steps, series, y_range, title) + "</div>")
    caption = f"{len(steps):,} logged steps, from step {steps[0]:,} to {steps[-1]:,}."
    return _section("Training", caption, "<div class='grid2'>" + "".join(panels) + "</div>")


# The memorization audit's scores (assay.pipelines.steps.audit): (key, column title, higher means
# memorized?). Each is shown for the benchmark's items next to their number-changed controls.
MEMORIZATION_SCORES = (
    ("completion_rouge", "completion ROUGE-L", True),
    ("exact_rate", "exact continuation", True),
    ("answer_rate", "states the answer", True),
    ("diversity", "sample diversity", False),
)


def section_memorization(value: Any) -> str:
    keys = ("benchmark", "items", *(k for s, _, _ in MEMORIZATION_SCORES for k in (s, "control_" + s)), "items_above_control")
    entries = []
    for i, entry in enumerate(_list(value, "memorization")):
        where = f"memorization[{i}]"
        _keys(_mapping(entry, where), where, keys)
        where = f"memorization[{i}] ({_text(entry['benchmark'], where + '.benchmark')!r})"
        _count(entry["items"], where + ".items")
        for key in keys[2:]:
            if key in ("answer_rate", "control_answer_rate") and entry[key] is None:
                continue  # the answer probe skipped a benchmark without answers
            if not 0.0 <= _number(entry[key], f"{where}.{key}") <= 1.0:
                raise _fail(f"{where}.{key}", f"expected a fraction in [0, 1], got {entry[key]!r}")
        entries.append(entry)
    if not entries:
        return _section("Memorization", "The model's probes per benchmark.", "<p>No benchmarks were probed.</p>")
    head = "".join(f"<th>{e(title)}<small>item / control</small></th>" for _, title, _ in MEMORIZATION_SCORES)
    out = [f"<table><tr><th>benchmark</th><th>items</th>{head}<th>items above their control</th></tr>"]
    for entry in entries:
        cells = []
        for key, _, memorized_if_higher in MEMORIZATION_SCORES:
            item, control = entry[key], entry["control_" + key]
            if item is None:
                cells.append("<td class='none'>skipped: no answers</td>")
                continue
            # Shaded where the items look memorized next to their controls: the cell to read first.
            worse = item > control if memorized_if_higher else item < control
            shade = f" style='background:rgba(220,38,38,{0.08 + 0.32 * min(abs(item - control) * 2, 1.0):.3f})'" if worse else ""
            cells.append(f"<td class='num'{shade}>{item:.3f} / {control:.3f}</td>")
        out.append(f"<tr><td>{e(entry['benchmark'])}</td><td class='num'>{entry['items']:,}</td>{''.join(cells)}"
                   f"<td class='num'>{entry['items_above_control']:.0%}</td></tr>")
    out.append("</table>")
    caption = ("Each benchmark item is probed next to a control: the same problem with its numbers changed, never "
               "published. A model that has seen the items continues them more exactly, states their answers more "
               "often and samples less diverse solutions than it does on the controls; shaded cells lean that way.")
    return _section("Memorization", caption, "".join(out))


SECTIONS: dict[str, Callable[[Any], str]] = {  # rendered in this order, after the header and its lines
    "links": section_links,
    "funnel": section_funnel,
    "difficulty": section_difficulty,
    "verdicts": section_verdicts,
    "contamination": section_contamination,
    "memorization": section_memorization,
    "curriculum": section_curriculum,
    "training": section_training,
    "settings": section_settings,  # last: reference, often long
}


def render_html(summary: Mapping[str, Any]) -> str:
    """The report page for a run summary (the module docstring gives its keys)."""
    _keys(_mapping(summary, "summary"), "top level", HEADER_KEYS, ("lines", *SECTIONS))
    kind, run_id, created_at, title = (_text(summary[k], k) for k in HEADER_KEYS)
    if kind not in KINDS:
        raise _fail("kind", str(UnknownName("kind", (kind,), KINDS)))
    try:
        datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        raise _fail("created_at", f"expected an ISO date and time, got {created_at!r}") from None
    lines = section_lines(summary["lines"]) if "lines" in summary else ""
    body = [f"<header><h1><span class='badge'>{e(kind)}</span>{e(title)}</h1>"
            f"<p class='meta'>run {e(run_id)} \u00b7 {e(created_at)}</p>{lines}</header>"]
    body += [render(summary[key]) for key, render in SECTIONS.items() if key in summary]
    return page(f"assay {kind} \u00b7 {title}", "\n".join(body))


def write_report(summary: Mapping[str, Any], prefix: Path) -> tuple[Path, Path]:
    """PREFIX.json (the summary, sorted keys) and PREFIX.html; checks the summary before writing either."""
    html_text = render_html(summary)
    try:
        json_text = json.dumps(summary, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise AssayError(f"report summary: cannot be written as JSON: {exc}") from None
    return write_pair(prefix, json_text, html_text)
