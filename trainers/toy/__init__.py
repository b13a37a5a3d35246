"""The built-in toy policy: a 1.06M-parameter character-level Llama that does arithmetic.

`checkpoint/` is a complete Hugging Face model folder (4.3 MB of float32 safetensors) made by
`python -m assay.trainers.toy.train --out DIR` with the script's defaults (about 16-20 minutes
on one CPU core); `assay.trainers.engines.resolve_model("toy")` returns it.

Architecture: LlamaForCausalLM, 4 layers, hidden 128, 4 heads, MLP 512, tied embeddings,
256 positions; 102-token character vocabulary (printable ASCII, newline, and <pad> <bos>
<eos> <unk> <|user|> <|assistant|>). Its chat template renders one user turn as
`<bos><|user|>PROMPT<|assistant|>`, the format it was trained on.

Default sampling: temperature 1.0, top-p 1.0. Accuracy on the built-in corpus at that
setting (first 300 problems, seed 0, 4 samples each, bench/bench_engine.py): 1 step 55%,
2 steps 27%, 3 steps 7%, 4 steps 11%, 5 steps 8%, 6 steps 3%. Additions and subtractions
are mostly right; two-digit multiplication is where it fails most.
"""
