"""Prompt templates: the chat messages a system turn and an instruction make, the toy's chat
template taking a system turn without changing prompts that have none, and the engines
encoding through both."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from assay.trainers.engines import TOY_CHECKPOINT, SamplingConfig, TransformersEngine
from assay.trainers.prompts import POSITIONS, PromptTemplate, TemplateError, encode_prompt
from assay.trainers.toy.train import CHAT_TEMPLATE
from assay.verifiers.names import UnknownName

BOXED = "Put the final answer in \\boxed{}."


def test_template_messages_user_text_and_plain_form():
    t = PromptTemplate(system="Be brief.", instruction=BOXED)
    assert t.messages("Compute 3+4.") == [{"role": "system", "content": "Be brief."},
                                          {"role": "user", "content": "Compute 3+4.\n\n" + BOXED}]
    assert PromptTemplate(instruction=BOXED, position="prepend").user("Compute 3+4.") == BOXED + "\n\nCompute 3+4."
    assert t.plain("Compute 3+4.") == "Be brief.\n\nCompute 3+4.\n\n" + BOXED
    assert PromptTemplate().messages("x") == [{"role": "user", "content": "x"}] and PromptTemplate().plain("x") == "x"
    assert PromptTemplate().to_dict() == {} and PromptTemplate.from_dict(t.to_dict()) == t and PromptTemplate.from_dict(None).empty


def test_bad_template_settings_are_named():
    with pytest.raises(UnknownName, match=f"unknown instruction position 'middle'; valid: {', '.join(POSITIONS)}$"):
        PromptTemplate(instruction="x", position="middle")
    with pytest.raises(TemplateError, match="the system text must be non-empty text"):
        PromptTemplate(system="  ")
    with pytest.raises(TemplateError, match="not a prompt template"):
        PromptTemplate.from_dict({"sytem": "typo"})


def test_toy_chat_template_takes_a_system_turn_and_keeps_plain_prompts_as_trained():
    assert (TOY_CHECKPOINT / "chat_template.jinja").read_text() == CHAT_TEMPLATE  # the shipped one is train.py's
    tok = AutoTokenizer.from_pretrained(TOY_CHECKPOINT)

    def render(messages):
        return tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    assert render([{"role": "user", "content": "Compute 4*2."}]) == "<bos><|user|>Compute 4*2.<|assistant|>"
    assert render(PromptTemplate(system="Be brief.").messages("Compute 4*2.")) == "<bos><|user|>Be brief.\n\nCompute 4*2.<|assistant|>"
    conversation = [{"role": "user", "content": "Compute 1+1."}, {"role": "assistant", "content": "\\boxed{2}"}]
    assert tok.apply_chat_template(conversation, tokenize=False) == "<bos><|user|>Compute 1+1.<|assistant|>\\boxed{2}<eos>"
    for bad in ([{"role": "user", "content": "a"}, {"role": "system", "content": "b"}], [{"role": "system", "content": "b"}]):
        with pytest.raises(Exception, match="system turn only first and before a user turn"):
            render(bad)


def test_engine_encodes_through_its_template():
    template = PromptTemplate(system="Be brief.", instruction="Go.")
    engine = TransformersEngine("toy", device="cpu", template=template)
    tok = engine.tokenizer
    assert engine.encode("Compute 4*2.") == tok("<bos><|user|>Be brief.\n\nCompute 4*2.\n\nGo.<|assistant|>", add_special_tokens=False)["input_ids"]
    assert encode_prompt(tok, "Compute 4*2.", PromptTemplate()) == TransformersEngine("toy", device="cpu").encode("Compute 4*2.")
    # Raw continuation (the audit's probe) ignores the chat template, not the template's text.
    raw = TransformersEngine("toy", device="cpu", chat_template=False, template=template)
    assert tok.decode(raw.encode("Compute 4*2.")) == tok.decode(tok("Be brief.\n\nCompute 4*2.\n\nGo.")["input_ids"])
    assert len(engine.generate(["Compute 4*2."], 1, SamplingConfig(temperature=0, max_tokens=8))[0]) == 1
