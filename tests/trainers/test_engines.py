"""TransformersEngine on the built-in toy policy, the sampling primitives, engine choice and the
vLLM guard (the vLLM engine itself: test_vllm_engine.py)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import warnings

import pytest
import torch
from safetensors.torch import save_file

from assay.curricula.arithmetic import generate_arithmetic
from assay.trainers.engines import (
    Completion,
    EngineError,
    SamplingConfig,
    Skipped,
    TransformersEngine,
    VLLMEngine,
    as_plain_text,
    choose_engine,
    resolve_model,
    sample_next,
    vllm_support,
)
from assay.trainers.rollout import ENGINE_CHOICES
from assay.verifiers.names import UnknownName

GREEDY = SamplingConfig(temperature=0.0, max_tokens=224)


@pytest.fixture(scope="module")
def engine() -> TransformersEngine:
    torch.set_num_threads(2)
    return TransformersEngine("toy", device="cpu", batch_size=64)


def test_greedy_toy_outputs_regression(engine):
    # Real greedy outputs of the shipped checkpoint (update when the toy is retrained).
    prompts = ["Compute 4*2.", "Compute 86-13.", "Compute 12+75-3."]
    out = engine.generate(prompts, 1, GREEDY)
    texts = [samples[0].text for samples in out]
    assert texts == TOY_GREEDY
    assert all(samples[0].finish_reason == "eos" for samples in out)


def test_n_samples_token_counts_and_eos(engine):
    out = engine.generate(["Compute 7+5.", "Compute 20-9*2."], 5, SamplingConfig(seed=3))
    assert [len(samples) for samples in out] == [5, 5]
    for c in out[0] + out[1]:
        assert isinstance(c, Completion)
        # Character-level tokenizer: one token per character, plus the EOS token.
        if c.finish_reason == "eos":
            assert c.tokens == len(c.text) + 1
        assert "\\boxed{" in c.text


def test_max_tokens_cuts_to_exact_length(engine):
    out = engine.generate(["Compute 61-62*(97-5)+64."], 3, SamplingConfig(max_tokens=7))
    for c in out[0]:
        assert (c.tokens, len(c.text), c.finish_reason) == (7, 7, "length")


def test_stop_string_is_cut_and_counted(engine):
    out = engine.generate(["Compute 12+75-3."], 2, SamplingConfig(temperature=0.0, stop=("=",)))
    for c in out[0]:
        assert (c.text, c.tokens, c.finish_reason) == ("12+75-3", 8, "stop")  # 7 chars + "="
    # A stop string that never appears changes nothing.
    plain = engine.generate(["Compute 12+75-3."], 1, GREEDY)[0][0]
    again = engine.generate(["Compute 12+75-3."], 1, SamplingConfig(temperature=0.0, stop=("@@",)))[0][0]
    assert again == plain


@pytest.mark.slow
def test_seed_determinism_and_batch_independence(engine):
    prompts = [p.prompt for p in generate_arithmetic(6, seed=5)]
    a = engine.generate(prompts, 3, SamplingConfig(seed=11))
    b = engine.generate(prompts, 3, SamplingConfig(seed=11))
    c = engine.generate(prompts, 3, SamplingConfig(seed=12))
    assert a == b
    assert a != c
    # A prompt's samples do not depend on what else is in the request.
    alone = engine.generate([prompts[4]], 3, SamplingConfig(seed=11))
    assert alone[0] == a[4]


def test_bad_prompts_are_skipped_with_a_reason(engine):
    long = "Compute " + "1+" * 200 + "1."
    out = engine.generate(["Compute 1+1.", "", long, "   "], 2, GREEDY)
    assert len(out[0]) == 2
    assert out[1] == Skipped("empty_prompt", "prompt 1 is empty")
    assert isinstance(out[2], Skipped) and out[2].reason == "prompt_too_long"
    assert "context is 256" in out[2].detail
    assert isinstance(out[3], Skipped) and out[3].reason == "empty_prompt"


@pytest.mark.parametrize("n", [0, -2])
def test_n_must_be_positive(engine, n):
    with pytest.raises(EngineError, match="n \\(samples per prompt\\)"):
        engine.generate(["Compute 1+1."], n, GREEDY)


def test_sampling_config_validation():
    with pytest.raises(EngineError, match="temperature"):
        SamplingConfig(temperature=-1)
    with pytest.raises(EngineError, match="top_p"):
        SamplingConfig(top_p=0)
    with pytest.raises(EngineError, match="max_tokens"):
        SamplingConfig(max_tokens=0)
    with pytest.raises(EngineError, match="stop"):
        SamplingConfig(stop="=")  # a bare string, not a tuple
    assert SamplingConfig().fingerprint() == SamplingConfig().fingerprint()
    assert SamplingConfig(seed=1).fingerprint() != SamplingConfig().fingerprint()


def test_model_path_errors(tmp_path):
    with pytest.raises(EngineError, match="no such model folder"):
        TransformersEngine(tmp_path / "missing")
    with pytest.raises(EngineError, match="no config.json"):
        TransformersEngine(tmp_path)
    from transformers import ViTConfig

    ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32).save_pretrained(tmp_path)
    save_file({"w": torch.zeros(1)}, tmp_path / "model.safetensors")
    with pytest.raises(EngineError, match=f"{tmp_path}: not a causal language model \\(vit\\)"):
        TransformersEngine(tmp_path)


def test_weight_push_changes_outputs_and_restores(engine):
    prompts = ["Compute 4*2.", "Compute 86-13."]
    before = engine.generate(prompts, 1, GREEDY)
    original = {k: v.clone() for k, v in engine.model.state_dict().items()}
    name = "model.norm.weight"
    engine.load_weights({name: -original[name]})
    changed = engine.generate(prompts, 1, GREEDY)
    assert changed != before
    engine.load_weights(original)
    assert engine.generate(prompts, 1, GREEDY) == before
    with pytest.raises(EngineError, match="unknown parameter"):
        engine.load_weights({"nope": torch.zeros(1)})


@pytest.mark.slow
def test_toy_accuracy_spreads_with_steps(engine):
    problems = generate_arithmetic(240, seed=0)
    by_steps = {s: [p for p in problems if p.steps == s][:24] for s in (1, 6)}
    acc = {}
    for steps, ps in by_steps.items():
        out = engine.generate([p.prompt for p in ps], 2, SamplingConfig(temperature=1.0, seed=0))
        right = [c.text.endswith(f"\\boxed{{{p.answer}}}") for p, cs in zip(ps, out) for c in cs]
        acc[steps] = sum(right) / len(right)
    # Shipped toy, seed 0: 25/48 one-step right, 2/48 six-step (some margin for float drift).
    assert acc[1] >= 0.35
    assert acc[6] <= 0.15
    assert acc[1] - acc[6] >= 0.3


def test_sample_next_greedy_top_p_and_frequencies():
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1]])).repeat(4000, 1)
    keys = torch.arange(4000, dtype=torch.int64)
    assert sample_next(logits, keys, 0, 0.0, 1.0).eq(0).all()
    assert sample_next(logits, keys, 0, 1.0, 0.5).eq(0).all()  # nucleus of 0.5 holds only 0.7
    freq = torch.bincount(sample_next(logits, keys, 0, 1.0, 1.0), minlength=3) / 4000
    assert torch.allclose(freq, torch.tensor([0.7, 0.2, 0.1]), atol=0.03)
    # top_p=0.8 keeps {0.7, 0.2}, renormalized to 7/9 and 2/9.
    freq = torch.bincount(sample_next(logits, keys, 1, 1.0, 0.8), minlength=3) / 4000
    assert freq[2] == 0 and math.isclose(float(freq[0]), 7 / 9, abs_tol=0.03)


def test_resolve_model():
    toy = resolve_model("toy")
    for name in ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json"):
        assert (toy / name).is_file()
    with pytest.raises(EngineError, match="no such model folder"):
        resolve_model("definitely/not/here")


def test_toy_tokenizer_is_character_level_and_loads_with_auto():
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    for cls in (AutoTokenizer, PreTrainedTokenizerFast):
        tok = cls.from_pretrained(resolve_model("toy"), local_files_only=True)
        ids = tok("12+7 \\boxed{19}", add_special_tokens=False)["input_ids"]
        assert len(ids) == len("12+7 \\boxed{19}")
        assert tok.decode(ids) == "12+7 \\boxed{19}"
    text = tok.apply_chat_template([{"role": "user", "content": "Compute 1+1."}], add_generation_prompt=True, tokenize=False)
    assert text == "<bos><|user|>Compute 1+1.<|assistant|>"


def test_vllm_engine_where_vllm_cannot_run_is_a_clear_error():
    support = vllm_support()
    if support.platform is not None:
        pytest.skip(f"vLLM can run here ({support.detail}): tests/trainers/test_vllm_engine.py covers it")
    with pytest.raises(EngineError, match="the vllm engine cannot run here: vllm"):
        VLLMEngine("toy")


TOY_GREEDY = ["4*2=8 \\boxed{8}", "86-13=73 \\boxed{73}", "12+75-3=87-3=84 \\boxed{84}"]


def test_open_engine_lists_valid_kinds():
    from assay.trainers.engines import open_engine

    with pytest.raises(UnknownName, match=f"unknown engine 'tpu'; valid: {', '.join(ENGINE_CHOICES)}$"):
        open_engine("tpu", "toy")


def test_the_torch_free_engine_names_are_the_engine_tables_keys():
    from assay.trainers.engines import ENGINES
    from assay.trainers.rollout import ENGINE_NAMES

    assert tuple(ENGINES) == ENGINE_NAMES


def test_auto_picks_vllm_exactly_where_it_can_run_and_says_why():
    support = vllm_support()
    auto = choose_engine("auto")
    assert auto.kind == ("vllm" if support.platform else "transformers")
    assert auto.why == f"auto: {support.detail}"
    assert choose_engine("transformers").kind == "transformers"
    assert choose_engine("vllm").why == "asked for by name"


def test_sampling_uses_the_current_cache_api_and_warns_nothing(engine):
    """transformers deprecated forward's `past_key_values` for `cache` with a FutureWarning that
    landed on the first screen of `assay quickstart`; the engine passes the name the model takes."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for sampling in (GREEDY, SamplingConfig(temperature=1.0, max_tokens=32)):
            assert all(len(cs) == 2 for cs in engine.generate(["Compute 4*2.", "Compute 13+29."], 2, sampling))


def test_decoding_threads_are_the_engines_and_the_callers_come_back(engine):
    assert engine.threads == 1
    torch.set_num_threads(2)
    engine.generate(["Compute 4*2."], 1, GREEDY)
    assert torch.get_num_threads() == 2
    with pytest.raises(EngineError, match="threads must be >= 1"):
        TransformersEngine("toy", device="cpu", threads=0)


def test_plain_text_twin_shares_the_model_and_skips_the_chat_template(engine):
    plain = as_plain_text(engine)
    assert plain.model is engine.model and engine.chat_template and not plain.chat_template
    # Character-level tokenizer: "12+" is its three characters, no <bos> or <|user|> turn.
    assert plain.encode("12+") == engine.tokenizer("12+", add_special_tokens=False)["input_ids"]
    assert engine.encode("12+")[:2] == engine.tokenizer.convert_tokens_to_ids(["<bos>", "<|user|>"])


@pytest.mark.parametrize("given, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_importing_the_trainers_makes_openmp_waits_passive_unless_set(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    code = "import os, assay.trainers; print(os.environ['OMP_WAIT_POLICY'])"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == expected, done.stderr
