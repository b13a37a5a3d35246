"""Train the built-in toy policy: a tiny Llama that does arithmetic one reduction at a time.

    python -m assay.trainers.toy.train --out DIR

writes a complete Hugging Face checkpoint folder (config.json, model.safetensors,
generation_config.json, tokenizer.json, tokenizer_config.json with the chat template) that any
rollout engine loads like any other local model. On the same torch version and thread count a
rerun gives the same weights. The checkpoint shipped in assay/trainers/toy/checkpoint/ is made
in two runs (about 20 and 4 minutes on one CPU core):

    python -m assay.trainers.toy.train --out base
    python -m assay.trainers.toy.train --init base --answer-noise 0.25 --steps 300 --lr 5e-4 \\
        --warmup 20 --weight-decay 0 --data-seed 2 --train-problems 40000 --eval-every 0 --out toy

What it learns: supervised next-token prediction on the built-in arithmetic corpus
(assay.curricula.arithmetic, default ArithmeticSpec), prompt ``Compute <expr>.`` and response
the generator's worked solution, e.g. ``61-62*(97-5)=61-62*92=... \\boxed{-5579}``. The loss
covers the response and the end-of-sequence token only. The training budget is deliberately
small: the toy is meant to be good at one-step problems and to fail more often the more
reductions a problem needs, so that difficulty estimates over the built-in corpus spread
from 0 to 1. The second run continues on fresh problems a quarter of whose solutions end in a
slipped answer (`slip`), as scraped solutions carry transcription errors: the toy then slips
when sampled, and GRPO has a flaw it can measurably remove in minutes on a CPU (the first
run's model alone gains no more than noise in that time: tests/trainers/test_grpo_learning.py).

Format: the toy has a real chat template (so the engines' chat path is exercised by every
test), and training renders prompts through that same template:

    <bos><|user|>Compute 4*2.<|assistant|>4*2=8 \\boxed{8}<eos>

Problems of the built-in corpus as quickstart ingests it (seed 0) are held out of training, so
the toy's measured difficulty on it is on unseen problems.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from assay.curricula.arithmetic import generate_arithmetic

SPECIAL_TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>", "<|user|>", "<|assistant|>"]
# Printable ASCII and newline: every character of the corpus, and enough that arbitrary
# English prompts tokenize without <unk> (anything else maps to <unk>).
CHARACTERS = [chr(c) for c in range(32, 127)] + ["\n"]
# A system turn (first, before a user turn) is rendered at the start of that user turn: the
# toy has no system token, and a prompt without one renders exactly as it was trained.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}"
    "{% if not loop.first or loop.last or messages[1]['role'] != 'user' %}"
    "{{ raise_exception('the toy chat template takes a system turn only first and before a user turn') }}"
    "{% endif %}"
    "{% elif message['role'] == 'user' %}<|user|>"
    "{% if loop.index0 == 1 and messages[0]['role'] == 'system' %}{{ messages[0]['content'] }}\n\n{% endif %}"
    "{{ message['content'] }}"
    "{% elif message['role'] == 'assistant' %}<|assistant|>{{ message['content'] }}{{ eos_token }}"
    "{% else %}{{ raise_exception('the toy chat template knows only system, user and assistant turns') }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
HELD_OUT_SEED = 0  # the built-in corpus's default seed (pipelines.ingest)
HELD_OUT_COUNT = 20_000  # generate_arithmetic(n, 0) is a prefix of this list for any n <= it


@dataclass(frozen=True)
class Args:
    out: str = "toy-checkpoint"  # folder to write the checkpoint into
    seed: int = 0  # torch and data-order seed
    data_seed: int = 1  # generator seed of the training problems (not the corpus's 0)
    train_problems: int = 120_000  # distinct problems drawn (before removing held-out ones)
    steps: int = 2000  # optimizer steps
    batch_size: int = 64  # sequences per step
    lr: float = 2e-3  # peak AdamW learning rate, after `warmup` linear steps; cosine to 10%
    warmup: int = 100
    weight_decay: float = 0.1
    hidden_size: int = 128
    layers: int = 4
    heads: int = 4
    intermediate_size: int = 512
    context: int = 256  # max positions; the longest default-spec example is ~180 tokens
    # One CPU thread: on a shared 2-core machine a second OpenMP thread spin-waits for a busy
    # core and runs several times slower; the thread count is also part of bit-identical reruns.
    threads: int = 1
    bf16: bool = True  # bfloat16 autocast for the forward pass (weights and optimizer stay fp32)
    eval_every: int = 400  # greedy accuracy per step count on held-out problems (0: never)
    # Share of training solutions whose boxed answer has one digit changed (see `slip`).
    answer_noise: float = 0.0
    init: str = ""  # a checkpoint folder to continue training from ("": a freshly initialized model)


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Character-level: a BPE model with single-character vocabulary and no merges."""
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS + CHARACTERS)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.add_special_tokens(SPECIAL_TOKENS)  # matched whole, so "<|user|>" is one token
    tok.decoder = decoders.Fuse()  # characters join with nothing in between
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        chat_template=CHAT_TEMPLATE,
        model_max_length=Args.context,
    )


def build_model(args: Args, tokenizer: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=args.hidden_size,
        intermediate_size=args.intermediate_size,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.heads,
        max_position_embeddings=args.context,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return LlamaForCausalLM(config)


def slip(solution: str, answer: str, rng: random.Random) -> str:
    """The solution with one digit of its boxed answer changed: a transcription slip.

    >>> slip("4*2=8 \\\\boxed{8}", "8", random.Random(0))
    '4*2=8 \\\\boxed{6}'
    """
    digits = [i for i, c in enumerate(answer) if c.isdigit()]
    i = rng.choice(digits)
    wrong = answer[:i] + rng.choice([d for d in "0123456789" if d != answer[i]]) + answer[i + 1 :]
    return solution.removesuffix(f"\\boxed{{{answer}}}") + f"\\boxed{{{wrong}}}"


def encode_examples(args: Args, tokenizer: PreTrainedTokenizerFast) -> list[tuple[list[int], int]]:
    """(token ids, prompt length) per training problem; the loss starts after the prompt.

    `answer_noise` of the solutions end in a slipped answer (`slip`): worked steps right, the
    boxed answer one digit off, as scraped solutions carry transcription errors. The toy learns
    that rate, so at temperature 1 it writes a wrong final answer about that often after right
    working, while its greedy answer is the right one: sampling noise a verifier-rewarded
    policy gradient can remove, the first thing RLVR fixes in real models too.
    """
    held_out = {p.prompt for p in generate_arithmetic(HELD_OUT_COUNT, HELD_OUT_SEED)}
    problems = [p for p in generate_arithmetic(args.train_problems, args.data_seed) if p.prompt not in held_out]
    rng = random.Random(args.seed)
    solutions = [slip(p.solution, p.answer, rng) if rng.random() < args.answer_noise else p.solution for p in problems]
    prompts = [
        tokenizer.apply_chat_template([{"role": "user", "content": p.prompt}], add_generation_prompt=True, tokenize=False)
        for p in problems
    ]
    prompt_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(solutions, add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    return [(p + r + [eos], len(p)) for p, r in zip(prompt_ids, response_ids)]


def batches(examples: list[tuple[list[int], int]], args: Args, pad: int):
    """Length-grouped batches in a seeded random order: (input_ids, labels), both [B, T].

    Sorting pools of 50 batches by length before cutting them cuts padding roughly in half
    while keeping batches random; labels are -100 on the prompt and on padding.
    """
    rng = random.Random(args.seed)
    pool = min(50, max(1, len(examples) // args.batch_size)) * args.batch_size
    while True:
        order = list(range(len(examples)))
        rng.shuffle(order)
        cut: list[list[int]] = []
        for start in range(0, len(order) - pool + 1, pool):
            chunk = sorted(order[start : start + pool], key=lambda i: len(examples[i][0]))
            cut += [chunk[i : i + args.batch_size] for i in range(0, pool, args.batch_size)]
        rng.shuffle(cut)
        for rows in cut:
            width = max(len(examples[i][0]) for i in rows)
            ids = torch.full((len(rows), width), pad, dtype=torch.long)
            labels = torch.full((len(rows), width), -100, dtype=torch.long)
            for r, i in enumerate(rows):
                seq, n_prompt = examples[i]
                ids[r, : len(seq)] = torch.tensor(seq)
                labels[r, n_prompt : len(seq)] = ids[r, n_prompt : len(seq)]
            yield ids, labels


@torch.no_grad()
def greedy_accuracy(model, tokenizer, per_step: int = 30) -> dict[int, float]:
    """Greedy exact-answer accuracy per step count on held-out problems (a progress signal)."""
    by_steps: dict[int, list] = {}
    for p in generate_arithmetic(2000, HELD_OUT_SEED):
        if len(by_steps.setdefault(p.steps, [])) < per_step:
            by_steps[p.steps].append(p)
    model.eval()
    tokenizer.padding_side = "left"
    acc = {}
    for steps, problems in sorted(by_steps.items()):
        texts = [
            tokenizer.apply_chat_template([{"role": "user", "content": p.prompt}], add_generation_prompt=True, tokenize=False)
            for p in problems
        ]
        enc = tokenizer(texts, add_special_tokens=False, return_tensors="pt", padding=True)
        out = model.generate(**enc, max_new_tokens=200, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        replies = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        acc[steps] = sum(r.endswith(f"\\boxed{{{p.answer}}}") for r, p in zip(replies, problems)) / len(problems)
    model.train()
    return acc


def lr_at(step: int, args: Args) -> float:
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train(args: Args) -> Path:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    tokenizer = build_tokenizer()
    if args.init:
        model = LlamaForCausalLM.from_pretrained(args.init, local_files_only=True, use_safetensors=True, dtype=torch.float32)
    else:
        model = build_model(args, tokenizer)
    examples = encode_examples(args, tokenizer)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"toy: {n_params:,} parameters, {len(examples):,} training problems", flush=True)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(0.9, 0.98),
    )
    model.train()
    start = time.time()
    data = batches(examples, args, tokenizer.pad_token_id)
    for step in range(args.steps):
        ids, labels = next(data)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss {loss.item():.4f}  {time.time() - start:6.0f}s", flush=True)
        if args.eval_every and (step + 1) % args.eval_every == 0:
            acc = greedy_accuracy(model, tokenizer)
            print("  greedy accuracy by steps: " + "  ".join(f"{k}:{v:.2f}" for k, v in acc.items()), flush=True)
    save(model, tokenizer, out, args, time.time() - start)
    return out


def save(model, tokenizer, out: Path, args: Args, seconds: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.generation_config = GenerationConfig(
        do_sample=True,
        temperature=1.0,
        top_p=1.0,
        max_new_tokens=224,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(out)
    (out / "training_args.json").write_text(
        json.dumps({**asdict(args), "out": None, "train_seconds": round(seconds)}, indent=2) + "\n"
    )
    print(f"saved {out} after {seconds:.0f}s", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in asdict(Args()).items():
        flag = f"--{name.replace('_', '-')}"
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        else:
            parser.add_argument(flag, type=type(default), default=default)
    train(Args(**vars(parser.parse_args(argv))))


if __name__ == "__main__":
    main()
