"""Layer c of decontamination: paraphrases, found by sentence-embedding cosine similarity.

The model is any sentence-transformers model in a local folder the user points to (for
example all-MiniLM-L6-v2); it is loaded with `local_files_only`, so this layer never reaches
the network. sentence-transformers is an optional dependency (`pip install assay[semantic]`)
imported only when a `SemanticIndex` is built.

Embeddings are L2-normalised, so cosine is a dot product: (rows, d) @ (d, problems). A row
matches every problem whose cosine is at least `threshold`, best `max_matches` kept.

Example (needs the model, so not run as a doctest):
    >>> index = SemanticIndex(problems, "/path/to/all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> index.match(["What is the total number of clips Natalia sold in April and May?"])  # doctest: +SKIP
    [Finding(row=0, benchmark='gsm8k', benchmark_id='0', method='semantic', score=0.91, span='Natalia sold ...')]
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from assay.filters.decontam import BenchmarkProblem, Finding

# Paraphrases of one problem by all-MiniLM-L6-v2 sit around 0.85-0.95; different problems of the
# same topic and template mostly below 0.8.
DEFAULT_THRESHOLD = 0.85
SPAN_CHARS = 300  # the problem text reported as the span is cut to this length


def load_encoder(model_path: str, device: str = "cpu"):
    """A SentenceTransformer from a local folder, never from the network."""
    from sentence_transformers import SentenceTransformer  # optional and heavy: import on use

    return SentenceTransformer(model_path, device=device, local_files_only=True)


class SemanticIndex:
    """Embeddings of the benchmark problems; `match` embeds prompts and compares."""

    def __init__(
        self,
        problems: Sequence[BenchmarkProblem],
        model_path: str,
        threshold: float = DEFAULT_THRESHOLD,
        max_matches: int = 3,
        batch_size: int = 64,
        encoder=None,
    ):
        if not -1 <= threshold <= 1:
            raise ValueError(f"threshold is a cosine, in [-1, 1]; got {threshold}")
        self.problems = list(problems)
        self.threshold = threshold
        self.max_matches = max_matches
        self.batch_size = batch_size
        self.encoder = encoder if encoder is not None else load_encoder(model_path)
        self._problem_vectors = self._embed([p.prompt for p in self.problems])  # (problems, d)

    def _embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 1), np.float32)
        vectors = self.encoder.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, np.float32)

    def match(self, prompts: Sequence[str | None]) -> list[Finding]:
        """Findings for a batch of prompts; `Finding.row` indexes the batch. Empty prompts match nothing."""
        rows = [i for i, p in enumerate(prompts) if p and p.strip()]
        if not rows or not self.problems:
            return []
        vectors = self._embed([prompts[i] for i in rows])  # (rows, d)
        cosine = vectors @ self._problem_vectors.T  # (rows, problems)
        findings = []
        for k, row in enumerate(rows):
            above = np.flatnonzero(cosine[k] >= self.threshold)
            for j in above[np.argsort(-cosine[k][above])][: self.max_matches]:
                p = self.problems[j]
                span = p.prompt if len(p.prompt) <= SPAN_CHARS else p.prompt[:SPAN_CHARS] + " ..."
                findings.append(Finding(row, p.benchmark, p.benchmark_id, "semantic", round(float(cosine[k][j]), 4), span))
        return findings
