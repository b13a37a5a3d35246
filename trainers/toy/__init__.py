"""The built-in toy policy: a 1.06M-parameter character-level Llama that does arithmetic.

`checkpoint/` is a complete Hugging Face model folder (4.3 MB of float32 safetensors) made by
the two runs of `python -m assay.trainers.toy.train` its docstring gives (about 20 and 4
minutes on one CPU core); `assay.trainers.engines.resolve_model("toy")` returns it.

Architecture: LlamaForCausalLM, 4 layers, hidden 128, 4 heads, MLP 512, tied embeddings,
256 positions; 102-token character vocabulary (printable ASCII, newline, and <pad> <bos>
<eos> <unk> <|user|> <|assistant|>). Its chat template renders one user turn as
`<bos><|user|>PROMPT<|assistant|>`, the format it was trained on.

Default sampling: temperature 1.0, top-p 1.0. Accuracy on the built-in corpus at that
setting, and greedy (first 300 problems, seed 0, 4 samples each, bench/bench_engine.py), by
reduction steps: 1 step 48% (greedy 57%), 2 steps 20% (36%), 3 steps 9% (18%), 4 steps 10%
(18%), 5 steps 5% (12%), 6 steps 4% (4%). Additions and subtractions are mostly worked right;
two-digit multiplication is where the working fails most. Part of the gap to greedy is slipped
final answers (right working, one digit of the boxed answer off): the last 300 training
steps had a quarter of their solutions end that way, the flaw GRPO removes in
tests/trainers/test_grpo_learning.py.
"""
