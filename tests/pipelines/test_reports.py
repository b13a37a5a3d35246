"""Run reports (assay.pipelines.reports.summary): the histogram helper and chart geometry with
hand-derived numbers, escaping of hostile text, partial summaries, clear errors, and the page
rendered in headless Chromium: a screenshot that is not blank and a console with no errors."""

import json
import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from assay.pipelines.errors import AssayError
from assay.curricula.difficulty import STATUSES
from assay.pipelines.reports.charts import AFTER, BEFORE, Frame, bar_chart_svg, funnel_svg, line_chart_svg, nice_ticks
from assay.pipelines.reports.summary import KINDS, SERIES, difficulty_histogram, render_html, write_report
from tests.pipelines import headless_chromium as chromium

HEADER = {"kind": "curate", "run_id": "curate-20250601-1200", "created_at": "2025-06-01T12:00:00+00:00",
          "title": "Curate arithmetic"}
SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert('x')</script><img src=x onerror=alert(1)>"


def memorization_entry(benchmark: str, items: int, rouge: float, control_rouge: float) -> dict:
    """One benchmark's audit scores: items above their controls where rouge > control_rouge."""
    memorized = rouge > control_rouge
    return {"benchmark": benchmark, "items": items, "completion_rouge": rouge, "control_completion_rouge": control_rouge,
            "exact_rate": 0.3 if memorized else 0.0, "control_exact_rate": 0.0, "answer_rate": 0.5, "control_answer_rate": 0.2,
            "diversity": 0.2 if memorized else 0.6, "control_diversity": 0.6, "items_above_control": 0.8 if memorized else 0.4}


def realistic_summary() -> dict:
    """Every section, with the numbers of a small curate-then-train run."""
    rates = {
        "builtin:arithmetic": [min(1.0, (i % 23) / 22 * (0.6 + 0.4 * (i % 3) / 2)) for i in range(1000)],
        "gsm8k-train": [((i * 37) % 101) / 100 for i in range(640)],
        "numina-olympiad": [min(1.0, ((i * 13) % 97) / 250) for i in range(420)],
    }
    kept = {s: [r for r in rs if 0.05 <= r <= 0.95] for s, rs in rates.items()}
    before, after = difficulty_histogram(rates), difficulty_histogram(kept)
    steps = list(range(0, 201, 5))
    return {
        "kind": "train", "run_id": "train-20250601-1200", "created_at": "2025-06-01T12:00:00+00:00",
        "title": "GRPO on a curated arithmetic + math mixture",
        "lines": ["2,060 prompts in, 1,187 kept after dedup, decontamination, gold check and the learnability filter.",
                  "Held-out accuracy 0.41 \u2192 0.58 over 200 steps.", "A source named " + HOSTILE],
        "links": {"decontamination report": "decontaminate-20250601.html", "shards manifest": "shards/manifest.json"},
        "settings": {"model": "toy", "k": 8, "learnability_min": 0.05, "seed": 0, "vllm": False, "notes": None},
        "funnel": [
            {"step": "ingest", "rows_in": 2071, "rows_out": 2060, "dropped": {"bad_json": 7, "empty_prompt": 4}},
            {"step": "dedup", "rows_in": 2060, "rows_out": 1902, "dropped": {"duplicate": 151, "near_duplicate": 7}},
            {"step": "decontaminate", "rows_in": 1902, "rows_out": 1868,
             "dropped": {"contaminated: ngram": 29, "contaminated: ngram_masked": 5}},
            {"step": "gold check", "rows_in": 1868, "rows_out": 1851, "dropped": {"bad_gold": 17}},
            {"step": "learnability", "rows_in": 1851, "rows_out": 1187, "dropped": {"too_easy": 412, "too_hard": 252}},
        ],
        "difficulty": {"bins": before.bins, "before": before.counts, "after": after.counts},
        "verdicts": {"correct": 5120, "incorrect": 9230, "no_answer": 412, "bad_gold": 0, "timeout": 17, "error": 3},
        "contamination": [
            {"benchmark": "gsm8k", "layer": "ngram", "findings": 22, "rows": 19},
            {"benchmark": "gsm8k", "layer": "ngram_masked", "findings": 5, "rows": 5},
            {"benchmark": "aime24", "layer": "ngram", "findings": 7, "rows": 7},
            {"benchmark": "aime24", "layer": "ngram_masked", "findings": 0, "rows": 0},
            {"benchmark": "math500", "layer": "ngram", "findings": 0, "rows": 0},
            {"benchmark": "math500", "layer": "semantic", "findings": 3, "rows": 3},
        ],
        "memorization": [memorization_entry("gsm8k", 40, 0.61, 0.33), memorization_entry("aime24", 30, 0.28, 0.29)],
        "curriculum": {"stage_rows": {0: 402, 1: 398, 2: 387}, "stage_weight": {0: 0.3344, 1: 0.3331, 2: 0.3325},
                       "source_weight": {"builtin:arithmetic": 0.36, "gsm8k-train": 0.34, "numina-olympiad": 0.2},
                       "replay_weight": 0.1},
        "training": {
            "step": steps,
            "reward": [round(0.3 + 0.3 * (1 - math.exp(-s / 70)) + 0.03 * math.sin(s / 3), 4) for s in steps],
            "heldout_accuracy": [round(0.41 + 0.17 * s / 200, 3) if s % 25 == 0 else None for s in steps],
            "heldout_pass_at_k": [round(0.62 + 0.14 * s / 200, 3) if s % 25 == 0 else None for s in steps],
            "zero_variance_fraction": [round(0.45 - 0.2 * s / 200 + 0.02 * math.cos(s), 4) for s in steps],
        },
    }


# -- the histogram helper --------------------------------------------------------------------------


def test_difficulty_histogram_puts_each_rate_in_its_bin():
    h = difficulty_histogram({"a": [0.0, 0.05, 0.1, 0.35, 0.3, 0.999, 1.0, 0.7], "b": []})
    assert h.bins == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    # 0.1, 0.3 and 0.7 sit on edges and open their bins; 1.0 closes the last bin.
    assert h.counts == {"a": [2, 1, 0, 2, 0, 0, 0, 1, 0, 2], "b": [0] * 10}
    assert difficulty_histogram({"a": [1 / 3, 2 / 3]}, bins=3).counts == {"a": [0, 1, 1]}


@pytest.mark.parametrize("rates, fragment", [([0.5, 1.5], "source 'a' row 1: pass rate 1.5"),
                                             ([float("nan")], "source 'a' row 0: pass rate nan"),
                                             ([-0.1], "row 0: pass rate -0.1")])
def test_difficulty_histogram_rejects_rates_outside_0_1(rates, fragment):
    with pytest.raises(AssayError, match=fragment):
        difficulty_histogram({"a": rates})
    with pytest.raises(AssayError, match="bins must be a positive integer"):
        difficulty_histogram({"a": [0.5]}, bins=0)


# -- chart geometry -------------------------------------------------------------------------------


def test_nice_ticks():
    assert nice_ticks(0, 37) == [0, 10, 20, 30, 40]
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0.23, 0.61) == [0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    assert nice_ticks(-3, 3) == [-4, -2, 0, 2, 4]  # 6 / 5 = 1.2 rounds up to a step of 2
    assert nice_ticks(5, 5) == [5, 5.2, 5.4, 5.6, 5.8, 6]  # an empty range becomes [lo, lo + 1]


def _elements(svg: str, tag: str) -> list[ET.Element]:
    return list(ET.fromstring(svg).iter(SVG + tag))


def test_bar_heights_are_proportional_to_counts():
    frame = Frame(360, 190, 52, 12, 8, 26)  # plot area 152 high, x axis at y = 164
    svg = bar_chart_svg([("before", BEFORE, [10, 5, 0, 20]), ("after", AFTER, [8, 5, 0, 3])],
                        ["0", "0.25", "0.5", "0.75", "1"], "test", frame)
    bars = _elements(svg, "rect")
    assert [b.get("data-series") for b in bars] == ["before"] * 4 + ["after"] * 4
    heights = [float(b.get("height")) for b in bars]
    # The axis runs to 20 (ticks 0, 5, ..., 20): a count of 20 fills the 152-unit plot.
    assert heights == pytest.approx([76, 38, 0, 152, 60.8, 38, 0, 22.8], abs=0.01)
    assert all(float(b.get("y")) + float(b.get("height")) == pytest.approx(164, abs=0.01) for b in bars)
    xs = [float(b.get("x")) for b in bars]
    assert xs[4] - xs[0] == pytest.approx(float(bars[0].get("width")), abs=0.01)  # groups: after right of before
    assert xs[1] - xs[0] == pytest.approx(300 / 4, abs=0.01)  # one group per quarter of the 300-unit width
    labels = [t.text for t in _elements(svg, "text")]
    assert labels[:5] == ["0", "5", "10", "15", "20"] and labels[5:] == ["0", "0.25", "0.5", "0.75", "1"]


def test_funnel_bars_are_proportional_to_rows():
    funnel = [{"step": "dedup", "rows_in": 1000, "rows_out": 800, "dropped": {"duplicate": 150, "near": 50}},
              {"step": "filter", "rows_in": 800, "rows_out": 600, "dropped": {"too_easy": 200}}]
    svg = funnel_svg(funnel, {"duplicate": "#f97316", "near": "#e11d48", "too_easy": "#a855f7"}, width=1100)
    rects = _elements(svg, "rect")
    widths = [(r.get("class"), int(r.get("data-rows")), float(r.get("width"))) for r in rects]
    bar = 1100 - 210 - 230  # the bar area between the step names and the numbers: 660
    assert widths == [("kept", 800, pytest.approx(528)), ("dropped", 150, pytest.approx(99)),
                      ("dropped", 50, pytest.approx(33)), ("kept", 600, pytest.approx(396)),
                      ("dropped", 200, pytest.approx(132))]
    assert sum(w for _, _, w in widths[:3]) == pytest.approx(bar)  # the first step's rows_in spans the bar
    # Segments follow each other: each starts where the previous one ended.
    xs = [float(r.get("x")) for r in rects]
    assert xs[1] == pytest.approx(xs[0] + 528) and xs[2] == pytest.approx(xs[1] + 99)


def test_line_chart_skips_steps_without_a_value():
    frame = Frame(540, 230, 48, 14, 14, 40)  # plot 478 wide from x = 48, 176 high above y = 190
    svg = line_chart_svg([0, 10, 20, 30, 40], [("acc", "#16a34a", [None, 0.5, None, 0.75, None])], (0.0, 1.0),
                         "test", frame)
    (line,) = _elements(svg, "polyline")
    points = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
    # Steps 10 and 30 of 0..40: a quarter and three quarters across; 0.5 and 0.75 of the height.
    assert points == [pytest.approx((48 + 478 / 4, 190 - 88)), pytest.approx((48 + 478 * 3 / 4, 190 - 132))]
    assert len(_elements(svg, "circle")) == 2  # a sparse series gets a marker per value
    empty = line_chart_svg([0, 10], [("acc", "#16a34a", [None, None])], (0.0, 1.0), "test")
    assert not _elements(empty, "polyline") and "no values yet" in empty


def test_every_chart_in_the_page_is_well_formed_svg():
    page = render_html(realistic_summary())
    charts = page.split("<svg")[1:]
    assert len(charts) == 3 + 1 + 1 + 3  # difficulty panels, funnel, curriculum stages, training charts
    for chunk in charts:
        ET.fromstring("<svg" + chunk.split("</svg>")[0] + "</svg>")


# -- text, sections and errors ---------------------------------------------------------------------


def test_hostile_text_is_escaped_everywhere():
    summary = realistic_summary()
    summary["title"] = HOSTILE
    summary["lines"] = [HOSTILE]
    summary["links"] = {HOSTILE: "a b/<x>.html"}
    summary["settings"] = {HOSTILE: HOSTILE}
    summary["funnel"][1]["step"] = HOSTILE
    summary["funnel"][1]["dropped"] = {HOSTILE: 151, "near_duplicate": 7}
    summary["difficulty"]["after"][HOSTILE] = [1] * 10
    summary["contamination"][0]["benchmark"] = HOSTILE
    summary["contamination"][1]["layer"] = HOSTILE
    page = render_html(summary)
    assert "<script" not in page and "<img" not in page and "onerror=alert" in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "href='a%20b/%3Cx%3E.html'" in page
    assert "http" not in page.replace("http-equiv", "").replace("http://www.w3.org/2000/svg", "")


@pytest.mark.parametrize("href", ["javascript:alert(1)", "https://example.com/x", "/etc/passwd", "//host/x"])
def test_links_must_be_relative_paths(href):
    with pytest.raises(AssayError, match=r"links\['x'\]: expected a path relative to the report"):
        render_html({**HEADER, "links": {"x": href}})


def test_a_summary_with_only_some_sections_renders_only_those(tmp_path):
    summary = {**HEADER, "lines": ["nothing ran yet"],
               "contamination": [{"benchmark": "gsm8k", "layer": "ngram", "findings": 2, "rows": 1}]}
    page = render_html(summary)
    assert "<h2>Contamination</h2>" in page and "nothing ran yet" in page
    for absent in ("Funnel", "Difficulty", "Curriculum", "Training", "Settings", "Related files"):
        assert f"<h2>{absent}</h2>" not in page
    assert "<svg" not in page
    assert "<h2>" not in render_html(HEADER)  # the header alone is a valid report
    json_path, html_path = write_report(summary, tmp_path / "reports" / "run")
    assert (json_path.name, html_path.name) == ("run.json", "run.html")
    assert json.loads(json_path.read_text()) == summary
    assert list(json.loads(json_path.read_text())) == sorted(summary)  # sorted keys
    assert html_path.read_text() == page


def test_memorization_table_shades_only_the_memorized_side():
    summary = {**HEADER, "kind": "audit", "memorization": [memorization_entry("gsm8k", 40, 0.61, 0.33),
                                                          memorization_entry("clean", 30, 0.28, 0.29)]}
    page = render_html(summary)
    rows = re.findall(r"<tr><td>(gsm8k|clean)</td>(.*?)</tr>", page)
    shaded = {name: cells.count("background:rgba(220,38,38") for name, cells in rows}
    # gsm8k: higher ROUGE-L, more exact continuations, lower diversity than its controls; both
    # benchmarks state the answer more often than their controls (0.5 vs 0.2).
    assert shaded == {"gsm8k": 4, "clean": 1}
    assert "0.610 / 0.330" in page and "80%" in page


def test_verdicts_table_counts_every_status_with_its_meaning():
    html_text = render_html({**HEADER, "verdicts": {"correct": 3, "incorrect": 2, "timeout": 1}})
    section = html_text[html_text.index("<h2>Verdicts</h2>"):]
    assert "on the 6 samples this run drew" in section
    # Every status has a row, absent ones 0; a timeout is the verifier failing, never a wrong answer.
    assert "<td>timeout</td><td class='num'>1</td><td class='num'>16.7%</td><td>the verifier failed: never scored" in section
    assert "<td>error</td><td class='num'>0</td>" in section and "<td>correct</td><td class='num'>3</td><td class='num'>50.0%</td>" in section


def test_training_curves_with_some_series():
    summary = {**HEADER, "kind": "train", "training": {"step": [1, 2, 3], "reward": [0.1, 0.2, 0.4]}}
    page = render_html(summary)
    assert page.count("<svg") == 1 and SERIES["reward"][0] + " (last 0.4)" in page


@pytest.mark.parametrize("change, message", [
    ({"kind": "eval"}, f"kind: unknown kind 'eval'; valid: {', '.join(KINDS)}"),
    ({"trainig": {}}, "top level: unknown key 'trainig'; valid: kind, run_id"),
    ({"created_at": "yesterday"}, "created_at: expected an ISO date and time, got 'yesterday'"),
    ({"funnel": [{"step": "dedup", "rows_in": 5, "rows_out": 6, "dropped": {}}]},
     "funnel[0] ('dedup'): rows_out 6 is more than rows_in 5"),
    ({"funnel": [{"step": "dedup", "rows_in": 5, "rows_out": 4, "dropped": {"dup": np.int64(1)}}]},
     "funnel[0] ('dedup').dropped['dup']: expected a row count (an integer >= 0), got int64"),
    ({"difficulty": {"bins": [0, 0.5, 1], "after": {"web": [1, 2, 3]}}}, "difficulty.after['web']: 3 counts for 2 bins"),
    ({"contamination": [{"benchmark": "b", "layer": "ngram", "findings": 1, "rows": 1}] * 2},
     "contamination[1]: benchmark 'b' layer 'ngram' appears twice"),
    ({"training": {"step": [0, 1], "reward": [0.5]}}, "training.reward: 1 values for 2 steps"),
    ({"training": {"step": [0, 1], "heldout_accuracy": [None, 1.5]}},
     "training.heldout_accuracy[1]: expected a fraction in [0, 1], got 1.5"),
    ({"training": {"step": [0, 1], "reward": [0.5, float("nan")]}}, "training.reward[1]: expected a finite number"),
    ({"training": {"step": [2, 1]}}, "training.step: expected a non-empty, increasing list of steps"),
    ({"verdicts": {"correct": 3, "maybe": 1}}, f"verdicts: unknown status 'maybe'; valid: {', '.join(STATUSES)}"),
    ({"verdicts": {"timeout": -1}}, "verdicts['timeout']: expected a row count (an integer >= 0), got int -1"),
    ({"memorization": [{**memorization_entry("gsm8k", 4, 0.5, 0.5), "diversity": 1.2}]},
     "memorization[0] ('gsm8k').diversity: expected a fraction in [0, 1], got 1.2"),
    ({"memorization": [{"benchmark": "gsm8k", "items": 4}]}, "memorization[0]: missing ['completion_rouge'"),
    ({"settings": {"lr": float("inf")}}, "settings['lr']: expected a finite number, got float inf"),
    ({"settings": {"stages": [1, 2]}}, "settings['stages']: expected text, a number, true/false or null, got list"),
    ({"curriculum": {"stage_rows": {0: 1}, "stage_weight": {1: 1.0}, "source_weight": {}, "replay_weight": 0.0}},
     "curriculum.stage_weight: stages [1] differ from stage_rows' [0]"),
])
def test_bad_summaries_fail_naming_the_entry(change, message, tmp_path):
    with pytest.raises(AssayError, match=re.escape("report summary: " + message)):
        write_report({**HEADER, **change}, tmp_path / "run")
    assert not list(tmp_path.iterdir())  # nothing written


# -- headless Chromium ----------------------------------------------------------------------------


def _pixels(png: bytes) -> tuple[np.ndarray, int, float]:
    """(RGB packed as one int per pixel [height, width], distinct colours, share not white)."""
    image = chromium.decode_png(png)[..., :3].astype(np.uint32)
    packed = image[..., 0] << 16 | image[..., 1] << 8 | image[..., 2]
    return packed, len(np.unique(packed)), float((packed != 0xFFFFFF).mean())


def test_png_decoder_reverses_every_filter():
    """A 5x3 RGB image written with each of the five row filters, by the definitions in the PNG spec."""
    import zlib

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)  # [height 5, width 5, RGB]
    rows, previous = [], np.zeros(15, np.int64)
    for kind, row in enumerate(image.reshape(5, 15).astype(np.int64)):
        left = np.concatenate([[0, 0, 0], row[:-3]])
        up_left = np.concatenate([[0, 0, 0], previous[:-3]])
        p = left + previous - up_left
        paeth = np.where((abs(p - left) <= abs(p - previous)) & (abs(p - left) <= abs(p - up_left)), left,
                         np.where(abs(p - previous) <= abs(p - up_left), previous, up_left))
        predictor = [0, left, previous, (left + previous) // 2, paeth][kind]
        rows.append(bytes([kind]) + ((row - predictor) % 256).astype(np.uint8).tobytes())
        previous = row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    header = (5).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows)))
           + chunk(b"IEND", b""))
    assert np.array_equal(chromium.decode_png(png), image)


@pytest.mark.slow
def test_report_renders_in_headless_chromium(tmp_path):
    binary = chromium.chromium_binary()
    if binary is None:
        pytest.skip("no chromium binary on PATH (.ci/run installs Debian's chromium with apt-get when it can)")
    _, report = write_report(realistic_summary(), tmp_path / "report")
    # A control page: a thrown error, a console.error and nothing drawn. The same checks must
    # flag it, or they could not fail on the report either.
    control = tmp_path / "control.html"
    control.write_text("<!DOCTYPE html><html><body><script>console.error('bad'); throw new Error('boom')</script>"
                       "</body></html>")
    shown, blank = chromium.render(binary, [report, control], tmp_path / "profile")
    (tmp_path / "report.png").write_bytes(shown.png)  # for a person looking into a failure

    assert shown.errors == []
    assert shown.width <= 1280  # nothing wider than the window: no horizontal scroll bar
    packed, colours, ink = _pixels(shown.png)
    assert packed.shape == (shown.height, 1280) and shown.height > 2000  # every section, below the first screen too
    assert colours > 200 and 0.05 < ink < 0.95, (colours, ink)
    # The charts were drawn: solid areas of the chart colours (bars, funnel, lines).
    for colour in (AFTER, BEFORE, SERIES["heldout_accuracy"][1], SERIES["zero_variance_fraction"][1]):
        assert (packed == int(colour[1:], 16)).sum() > 50, colour

    assert any("console.error: bad" in x for x in blank.errors) and any("Uncaught" in x for x in blank.errors)
    assert _pixels(blank.png)[1] == 1  # one colour: blank
