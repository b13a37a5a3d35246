"""A plan the client tests export: the built-in corpus's one-operation problems."""

from __future__ import annotations

import re

import pyarrow as pa

from assay.curricula.plan import CurriculumConfig, Plan, build_plan
from assay.pipelines.store.catalog import Catalog
from assay.pipelines.steps.ingest import ingest, resolve_source


def one_step_plan(catalog: Catalog) -> Plan:
    """The one-operation problems ("Compute 50+96.") of 200 built-in ones, in one stage: the
    toy solves them about half the time when sampled, so a few steps of rewards are not all 0."""
    source, name, preset = resolve_source("builtin:arithmetic", count=200)
    ingest(catalog, source, preset, name)
    rows = catalog.con.execute("SELECT uid, prompt FROM records ORDER BY uid").fetchall()
    uids = [u for u, p in rows if re.fullmatch(r"Compute \d+[+-]\d+\.", p)]
    scored = pa.table({"uid": uids, "source": ["arithmetic"] * len(uids), "n": [8] * len(uids), "n_correct": [4] * len(uids)})
    return build_plan(scored, CurriculumConfig(stages=1, staging="single"))
