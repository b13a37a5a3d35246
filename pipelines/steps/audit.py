"""`assay audit-model`: has a model memorized a benchmark?

Two probes per benchmark item, each with a matched clean control (the same problem with its
numbers changed: same shape and length, text never published, see
assay.filters.memorization.number_variant):

1. Partial-prompt completion ("Reasoning or Memorization?", 2025): the first 40/60/80% of the
   problem, as plain text without a chat template, greedy-completed. Scored by ROUGE-L and
   exact match of the completion (cut to the true rest's length in words) against the true
   rest, and by whether the completion states the item's answer (the math verifier on it).
   A model that has seen the item reproduces its rest; one that has not guesses.
2. Output diversity (in the spirit of Self-Critique): k samples at temperature 1 with the
   chat template; diversity = 1 - mean pairwise ROUGE-L. Memorized solutions collapse the
   samples onto one text, so diversity on benchmark items below the controls' is a sign.

Per item: `completion_score` (mean ROUGE-L over the cuts), exact matches, answer hits,
diversity, and the same for its control. Per benchmark: the means, the controls' means (the
clean baseline), and the share of items whose completion score beats their control's.

Example:
    >>> with Catalog.open("assay.duckdb") as cat:  # doctest: +SKIP
    ...     result = audit_model(cat, AuditConfig(model="toy", benchmarks=("aime24",)))
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import fmean
from typing import Any, Callable, Mapping, Sequence

from assay.filters.decontam import BenchmarkProblem
from assay.filters.memorization import continues_exactly, cut_prompt, diversity, number_variant, rouge_l, words
from assay.pipelines.steps.benchmarks import load_problems
from assay.pipelines.store.catalog import Catalog, utc_now
from assay.pipelines.errors import AssayError, chosen
from assay.pipelines.reports.summary import write_report
from assay.trainers.rollout import ENGINE_CHOICES, ENGINE_HELP, EngineError, RolloutEngine, SamplingConfig, Skipped
from assay.verifiers import Check, solved, verify_batch

FRACTIONS = (0.4, 0.6, 0.8)


@dataclass(frozen=True)
class AuditConfig:
    model: str = field(metadata={"help": "A local checkpoint folder, or the built-in toy policy.", "example": "toy"})
    benchmarks: tuple[str, ...] = field(metadata={"help": "Registered benchmarks (repeat the flag); see `assay bench list`."})
    k: int = field(default=8, metadata={"help": "Samples per item (and per control) for the diversity probe."})
    # The opening of a solution shows collapse.
    max_tokens: int = field(default=256, metadata={"help": "Length of each diversity-probe sample."})
    max_items: int | None = field(default=None, metadata={"help": "Audit only the first N items of each benchmark."})
    seed: int = field(default=0, metadata={"help": "Seed of the control variants and the sampling."})
    trust_remote_code: bool = field(default=False, metadata={
        "help": "Run the checkpoint's own Python code. Only for code you have read."})
    engine: str = field(default="auto", metadata={"help": ENGINE_HELP})

    def __post_init__(self) -> None:
        chosen(ENGINE_CHOICES, self.engine, "engine", "--engine:")
        if self.k < 2:
            raise AssayError(f"--k must be at least 2 (diversity compares samples), got {self.k}")
        if self.max_items is not None and self.max_items < 1:
            raise AssayError(f"--max-items must be positive, got {self.max_items}")


@dataclass(frozen=True)
class Probe:
    """One text's scores under both probes."""

    rouge: dict[float, float]  # cut fraction -> ROUGE-L of completion vs true rest
    exact: dict[float, bool]  # cut fraction -> completion reproduces the rest
    answer: dict[float, bool]  # cut fraction -> completion states the answer; empty: the item has no answer
    diversity: float

    @property
    def completion_score(self) -> float:
        return fmean(self.rouge.values())


@dataclass(frozen=True)
class ItemAudit:
    benchmark: str
    benchmark_id: str
    item: Probe
    control: Probe  # the number-changed variant


@dataclass
class AuditResult:
    model: str
    items: list[ItemAudit] = field(default_factory=list)

    def by_benchmark(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for name in dict.fromkeys(i.benchmark for i in self.items):
            items = [i for i in self.items if i.benchmark == name]
            out[name] = {
                "items": len(items),
                "completion_rouge": fmean(i.item.completion_score for i in items),
                "control_completion_rouge": fmean(i.control.completion_score for i in items),
                "exact_rate": fmean(fmean(i.item.exact.values()) for i in items),
                "control_exact_rate": fmean(fmean(i.control.exact.values()) for i in items),
                # None: no item has an answer (a benchmark registered as problem texts alone),
                # so the answer probe skipped the benchmark.
                "answer_rate": _answer_rate([i.item for i in items]),
                "control_answer_rate": _answer_rate([i.control for i in items]),
                "diversity": fmean(i.item.diversity for i in items),
                "control_diversity": fmean(i.control.diversity for i in items),
                "items_above_control": fmean(i.item.completion_score > i.control.completion_score for i in items),
            }
        return out


def _answer_rate(probes: list[Probe]) -> float | None:
    rates = [fmean(p.answer.values()) for p in probes if p.answer]
    return fmean(rates) if rates else None


def _truncate_words(text: str, n: int) -> str:
    """The completion cut to the first n word tokens' worth of text, for a fair ROUGE-L."""
    kept, count = [], 0
    for token in text.split():
        count += len(words(token))
        kept.append(token)
        if count >= n:
            break
    return " ".join(kept)


def completion_probe(engine: RolloutEngine, texts: Sequence[str], answers: Sequence[str]) -> list[dict[str, Any]]:
    """Greedy completions of each text's cuts: per text, {fraction: (rouge, exact, answer)}."""
    jobs = [(t, f, *cut_prompt(text, f)) for t, text in enumerate(texts) for f in FRACTIONS]
    # Room for the rest, generously: a tokenizer never needs more tokens than characters.
    longest = max(len(rest) for *_, rest in jobs)
    outputs = engine.generate([head for _, _, head, _ in jobs], 1, SamplingConfig(temperature=0.0, max_tokens=longest + 8))
    completions = [out[0].text if not isinstance(out, Skipped) else "" for out in outputs]
    # A text without an answer (a benchmark of problem texts alone) skips the answer probe: None.
    answered = [(c, t) for c, (t, *_) in zip(completions, jobs) if answers[t]]
    verdicts = iter(verify_batch([Check(c, answers[t], "math") for c, t in answered]))
    per_text: list[dict[str, Any]] = [{} for _ in texts]
    for (t, fraction, _, rest), completion in zip(jobs, completions):
        clipped = _truncate_words(completion, len(words(rest)))
        stated = solved(next(verdicts)) if answers[t] else None
        per_text[t][fraction] = (rouge_l(clipped, rest), continues_exactly(completion, rest), stated)
    return per_text


def diversity_probe(engine: RolloutEngine, texts: Sequence[str], k: int, seed: int, max_tokens: int) -> list[float]:
    outputs = engine.generate(list(texts), k, SamplingConfig(temperature=1.0, max_tokens=max_tokens, seed=seed))
    return [0.0 if isinstance(out, Skipped) else diversity([c.text for c in out]) for out in outputs]


def audit_problems(
    raw: RolloutEngine,
    chat: RolloutEngine,
    problems: Sequence[BenchmarkProblem],
    k: int,
    seed: int,
    max_tokens: int = 256,
    progress: Callable[[int], None] = lambda n: None,
) -> list[ItemAudit]:
    """Both probes on each problem and its number-changed control."""
    rng = random.Random(seed)
    controls = [number_variant(p.prompt, rng) for p in problems]
    texts = [p.prompt for p in problems] + controls
    # A control keeps its item's answer: stating the original answer to the changed problem is
    # recall, not reasoning, so the controls' answer rate is the clean floor of that signal.
    answers = [p.answer for p in problems] * 2
    completions = completion_probe(raw, texts, answers)
    progress(len(problems))
    diversities = diversity_probe(chat, texts, k, seed, max_tokens)
    progress(len(problems))

    def probe(i: int) -> Probe:
        scores = completions[i]
        return Probe(
            rouge={f: s[0] for f, s in scores.items()},
            exact={f: s[1] for f, s in scores.items()},
            answer={f: s[2] for f, s in scores.items() if s[2] is not None},
            diversity=diversities[i],
        )

    n = len(problems)
    return [ItemAudit(p.benchmark, p.benchmark_id, probe(i), probe(n + i)) for i, p in enumerate(problems)]


def audit_model(
    catalog: Catalog, config: AuditConfig, progress: Callable[[int], None] = lambda n: None
) -> AuditResult:
    problems = load_problems(catalog, list(config.benchmarks))
    if config.max_items:
        taken: Counter[str] = Counter()
        selected = []
        for p in problems:
            if taken[p.benchmark] < config.max_items:
                taken[p.benchmark] += 1
                selected.append(p)
        problems = selected
    from assay.trainers.engines import as_plain_text, open_engine  # torch loads with the model, after the checks

    try:
        chat = open_engine(config.engine, config.model, trust_remote_code=config.trust_remote_code)
        raw = as_plain_text(chat)  # the same loaded model, sent plain text to continue
    except EngineError as exc:
        raise AssayError(str(exc)) from None
    return AuditResult(config.model, audit_problems(raw, chat, problems, config.k, config.seed, config.max_tokens, progress))


def audit_summary(result: AuditResult, config: AuditConfig, run_id: str, dataset: Mapping[str, Any] | None,
                  contamination: list[dict[str, Any]] | None, links: Mapping[str, str]) -> dict[str, Any]:
    """The audit report's summary (assay.pipelines.reports.summary): the memorization probes per benchmark
    and, when the catalog's records were checked too (`dataset`: the check's report numbers,
    `contamination`: its findings per benchmark and layer), the dataset's contamination."""
    benchmarks = result.by_benchmark()
    lines = []
    if dataset is not None:
        lines.append(f"dataset: {dataset['rows_contaminated']:,} of {dataset['rows']:,} catalog rows match "
                     f"{', '.join(config.benchmarks)} ({sum(dataset['findings'].values()):,} findings)")
    lines.append(f"model {result.model}: {len(result.items):,} benchmark items probed, each next to a number-changed control")
    lines += [f"{name}: completion ROUGE-L {b['completion_rouge']:.3f} (controls {b['control_completion_rouge']:.3f}), "
              f"{b['items_above_control']:.0%} of items above their control" for name, b in benchmarks.items()]
    settings = {k: ", ".join(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}
    summary: dict[str, Any] = {
        "kind": "audit", "run_id": run_id, "created_at": utc_now().isoformat(),
        "title": f"audit {result.model} on {', '.join(config.benchmarks)}",
        "lines": lines, "links": dict(links), "settings": settings,
        "memorization": [{"benchmark": name, **b} for name, b in benchmarks.items()],
    }
    if contamination is not None:
        summary["contamination"] = contamination
    return summary


def write_audit(result: AuditResult, config: AuditConfig, run_id: str, prefix: Path, dataset: Mapping[str, Any] | None = None,
                contamination: list[dict[str, Any]] | None = None, dataset_report: Path | None = None) -> Path:
    """The audit report, PREFIX.html and PREFIX.json, and every item's scores in PREFIX-items.json;
    returns the HTML report's path."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    items = prefix.with_name(prefix.name + "-items.json")
    payload = {"model": result.model, "benchmarks": result.by_benchmark(), "items": [asdict(i) for i in result.items]}
    items.write_text(json.dumps(payload, indent=1, default=str), encoding="utf-8")
    links = {"per-item scores": items.name}
    if dataset_report is not None:
        links["decontamination report"] = os.path.relpath(dataset_report.resolve(), prefix.parent.resolve())
    return write_report(audit_summary(result, config, run_id, dataset, contamination, links), prefix)[1]
