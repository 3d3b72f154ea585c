"""Grammar-constrained decoding (``SamplingParams.json_schema``): answers always parse, match
Hugging Face ``generate`` under the same mask token for token, and leave unconstrained rows of
the same batch untouched."""

from __future__ import annotations

import json

import pytest

from heliumsql.engine import Engine, SamplingParams
from heliumsql.errors import EngineError

PROMPTS = ["Extract the person: Ann is 41.", "Extract: Bob, 7 years old", "Who is this? 42",
           "Tell me a story about a cat"]
PERSON = json.dumps({"type": "object", "properties": {
    "name": {"type": "string", "maxLength": 6, "pattern": '^[^"\\\\\\x00-\\x1f]*$'},
    "age": {"type": "integer", "minimum": 0, "maximum": 120},
    "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2}},
    "required": ["name", "age", "tags"], "additionalProperties": False})


@pytest.fixture(scope="module")
def engine(model_paths):  # noqa: ANN001
    return Engine(model_paths["llama"], block_size=4)


def _check_person(text: str) -> None:
    value = json.loads(text)
    assert list(value) == ["name", "age", "tags"]
    assert isinstance(value["name"], str) and len(value["name"]) <= 6
    assert 0 <= value["age"] <= 120 and set(value["tags"]) <= {"a", "b"}


@pytest.mark.parametrize("temperature", [0.0, 1.5])
def test_constrained_answers_always_parse(engine, temperature):  # noqa: ANN001
    params = SamplingParams(max_tokens=64, temperature=temperature, seed=7, json_schema=PERSON)
    for c in engine.generate(PROMPTS, params):
        _check_person(c.text)
        assert c.finish_reason == "stop"


def test_constrained_answers_parse_in_bfloat16_on_cpu(model_paths):  # noqa: ANN001
    engine = Engine(model_paths["llama"], block_size=4, dtype="bfloat16", device="cpu")
    for c in engine.generate(PROMPTS, SamplingParams(max_tokens=64, json_schema=PERSON)):
        _check_person(c.text)


def test_constrained_greedy_matches_hf_generate_under_the_same_mask(engine, references):  # noqa: ANN001
    params = SamplingParams(max_tokens=64, json_schema=PERSON)
    got, want = engine.generate(PROMPTS, params), references["llama"].generate(PROMPTS, params)
    eos = engine.tokenizer.eos_token_id
    assert [c.text for c in got] == [c.text for c in want]
    # HF's generate appends the EOS the finished grammar forces; the engine stops without it.
    assert [[t for t in c.token_ids if t != eos] for c in got] == \
           [[t for t in c.token_ids if t != eos] for c in want]


def test_unconstrained_rows_of_a_mixed_batch_are_unchanged(engine):  # noqa: ANN001
    free = SamplingParams(max_tokens=12)
    alone = engine.generate(PROMPTS, free)
    typed = SamplingParams(max_tokens=64, json_schema=PERSON)
    mixed = engine.generate(PROMPTS + PROMPTS, [free] * 4 + [typed] * 4)
    assert [(c.text, c.token_ids) for c in mixed[:4]] == [(c.text, c.token_ids) for c in alone]
    for c in mixed[4:]:
        _check_person(c.text)


def test_a_schema_the_library_rejects_is_an_engine_error(engine):  # noqa: ANN001
    with pytest.raises(EngineError, match="cannot constrain decoding"):
        engine.generate(PROMPTS[:1], SamplingParams(json_schema='{"type": "no-such-type"}'))


def test_choices_and_json_schema_are_exclusive() -> None:
    with pytest.raises(EngineError, match="not both"):
        SamplingParams(choices=("a", "b"), json_schema='{"type": "integer"}')
