"""Imported by the runner's fork server only: pays the one-time costs (sympy's and the LaTeX
parser's lazy initialization) once, so every worker forked from the server starts warm.
Nothing else should import this module."""

from assay.verifiers.math_verifier import _parse

for _latex in ("\\frac{\\sqrt{2}}{2} + x^2", "[1, \\infty)", "(1, 2)", "y = 2x + 1", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"):
    _parse(_latex)
