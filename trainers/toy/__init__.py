"""The built-in toy policy: a ~1M-parameter character-level Llama that does arithmetic.

`checkpoint/` is a complete Hugging Face model folder made by `python -m
assay.trainers.toy.train`; `assay.trainers.engines.resolve_model("toy")` returns it.
"""
