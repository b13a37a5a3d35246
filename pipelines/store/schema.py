"""The prompt record: the one row shape every part of assay agrees on.

A record is a prompt with its gold answer and the key of the verifier that checks responses
against that gold. Its `uid` is stable: the same prompt from the same source always gets the
same uid, on any machine, so re-ingesting adds nothing and difficulty history attaches to the
prompt rather than to a row number.

Normalisation for the uid (documented, and part of the uid's meaning, so never change it
without a catalog schema bump): Unicode NFKC, then every run of whitespace collapsed to one
space, then leading and trailing whitespace removed. Case and punctuation are kept: "Find x."
and "find x" are different prompts.

Example:
    >>> make_uid("gsm8k", "What is  2+2?\\n") == make_uid("gsm8k", "What is 2+2?")
    True
"""

from __future__ import annotations

import hashlib
import json
import unicodedata

import pyarrow as pa

RECORD_SCHEMA = pa.schema(
    [
        pa.field("uid", pa.string(), nullable=False),  # make_uid(source, prompt)
        pa.field("source", pa.string(), nullable=False),  # the name given at ingestion
        pa.field("split", pa.string(), nullable=False),  # train / test / validation / ...
        pa.field("prompt", pa.string(), nullable=False),  # as ingested, not normalised
        pa.field("answer", pa.string(), nullable=False),  # the gold, extracted
        pa.field("verifier", pa.string(), nullable=False),  # key into assay.verifiers' table
        pa.field("domain", pa.string(), nullable=False),  # math / code / science / ...
        pa.field("meta", pa.string(), nullable=False),  # JSON object: every other column
    ]
)

# Rows that could not become records, with a reason code; `location` says where they were
# (file and line, row, or array index) so a user can find and fix them.
QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("qid", pa.string(), nullable=False),  # make_qid(source, location, reason)
        pa.field("source", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("location", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),  # a reason code, e.g. empty_prompt
        pa.field("detail", pa.string(), nullable=False),  # one human sentence
        pa.field("raw", pa.string(), nullable=False),  # the row as JSON, cut to RAW_EXCERPT_CHARS
    ]
)

RAW_EXCERPT_CHARS = 2000

# One field of a raw row longer than this is quarantined as `field_too_large`, not parsed:
# no RL prompt or gold is a million characters, and such rows are scraping accidents.
MAX_FIELD_CHARS = 1_000_000

# uids are the first 128 bits of SHA-256, as hex: collision-free at any realistic corpus size.
_UID_HEX_CHARS = 32
_SEPARATOR = "\x1f"  # ASCII unit separator: cannot appear in a normalised source name


def normalize_prompt(text: str) -> str:
    """NFKC, whitespace runs collapsed to one space, ends stripped."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def make_uid(source: str, prompt: str) -> str:
    """Stable id of a prompt within a source: sha256(source, normalized prompt), 32 hex chars."""
    key = f"{source}{_SEPARATOR}{normalize_prompt(prompt)}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(key).hexdigest()[:_UID_HEX_CHARS]


def make_qid(source: str, location: str, reason: str) -> str:
    """Stable id of a quarantine row, so re-ingesting the same bad row adds nothing."""
    key = _SEPARATOR.join((source, location, reason)).encode("utf-8", "surrogatepass")
    return hashlib.sha256(key).hexdigest()[:_UID_HEX_CHARS]


def raw_excerpt(row: object) -> str:
    """The offending row as JSON (anything not JSON-able as its repr), cut to a readable size."""
    text = json.dumps(row, ensure_ascii=False, default=repr)
    if len(text) > RAW_EXCERPT_CHARS:
        text = text[:RAW_EXCERPT_CHARS] + f"... [{len(text) - RAW_EXCERPT_CHARS} more chars]"
    # A lone surrogate (from a JSON escape such as \ud800) cannot be stored: spell it out.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
