"""The server through the official ``openai`` client: the same answers as the local engine,
streaming, usage, OpenAI's errors, and many clients sharing the engine's steps."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import openai
import pytest
from serving import Served

from heliumsql.engine import Engine, SamplingParams
from heliumsql.prompting import chat_token_ids

PROMPTS = ["Is this review positive? great food", "Summarize: the cat sat on the mat",
           "Name the city: I flew to Paris"]


def client(s: Served, **kw: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=s.base_url, api_key=s.api_key, max_retries=0, **kw)


def aclient(s: Served) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=s.base_url, api_key=s.api_key, max_retries=0)


def local_chat(ref: Engine, prompt: str, max_tokens: int, system: str | None = None) -> str:
    ids = chat_token_ids(ref.tokenizer, prompt, system)
    return ref.generate([ids], SamplingParams(max_tokens=max_tokens))[0].text


def test_models_and_health(served: Served) -> None:
    assert [m.id for m in client(served).models.list().data] == [served.model]
    assert httpx.get(served.base_url.removesuffix("/v1") + "/health").json() == {"status": "ok"}


def test_greedy_chat_equals_local_engine(served: Served, reference: Engine) -> None:
    c = client(served)
    for prompt in PROMPTS:
        got = c.chat.completions.create(model=served.model, temperature=0, max_tokens=12,
                                        messages=[{"role": "user", "content": prompt}])
        assert got.choices[0].message.content == local_chat(reference, prompt, 12)
        assert got.usage.prompt_tokens == len(chat_token_ids(reference.tokenizer, prompt))
    system = "You are terse."
    got = c.chat.completions.create(model=served.model, temperature=0, max_completion_tokens=10,
                                    messages=[{"role": "system", "content": system},
                                              {"role": "user", "content": PROMPTS[0]}])
    assert got.choices[0].message.content == local_chat(reference, PROMPTS[0], 10, system)
    assert got.usage.completion_tokens <= 10


def test_greedy_completion_equals_local_engine(served: Served, reference: Engine) -> None:
    c = client(served)
    want = [x.text for x in reference.generate(PROMPTS, SamplingParams(max_tokens=10))]
    got = c.completions.create(model=served.model, prompt=PROMPTS, temperature=0, max_tokens=10,
                               n=2)
    assert [ch.index for ch in got.choices] == list(range(2 * len(PROMPTS)))
    assert [ch.text for ch in got.choices] == [w for w in want for _ in range(2)]
    ids = reference.encode(PROMPTS[1])
    one = c.completions.create(model=served.model, prompt=ids, temperature=0, max_tokens=10)
    assert one.choices[0].text == want[1]
    assert one.usage.prompt_tokens == len(ids)


def test_seeded_sampling_repeats_and_choices_differ(served: Served) -> None:
    c = client(served)
    ask = dict(model=served.model, prompt=PROMPTS[0], temperature=1.0, max_tokens=12, seed=7, n=3)
    first, again = c.completions.create(**ask), c.completions.create(**ask)
    texts = [ch.text for ch in first.choices]
    assert texts == [ch.text for ch in again.choices]
    assert len(set(texts)) > 1


def test_stop_strings_cut_the_answer(served: Served, reference: Engine) -> None:
    full = reference.generate([PROMPTS[2]], SamplingParams(max_tokens=16))[0].text
    stop = full[len(full) // 2:][:2]
    got = client(served).completions.create(model=served.model, prompt=PROMPTS[2], max_tokens=16,
                                            temperature=0, stop=[stop])
    assert got.choices[0].text == full[:full.find(stop)].strip()
    assert got.choices[0].finish_reason == "stop"


def test_streamed_text_equals_non_streamed(served: Served) -> None:
    pairs = asyncio.run(_streamed_and_whole(served))
    assert len(pairs) == 3 * len(PROMPTS)
    for streamed, whole in pairs:
        assert streamed == whole


async def _streamed_and_whole(served: Served) -> list[tuple[object, object]]:
    """(streamed, whole) per prompt: chat text, chat completion tokens, completion text."""
    c = aclient(served)
    pairs: list[tuple[object, object]] = []
    for prompt in PROMPTS:
        messages = [{"role": "user", "content": prompt}]
        whole = await c.chat.completions.create(model=served.model, messages=messages,
                                                temperature=0, max_tokens=12)
        parts, usage = [], None
        stream = await c.chat.completions.create(model=served.model, messages=messages,
                                                 temperature=0, max_tokens=12, stream=True,
                                                 stream_options={"include_usage": True})
        async for chunk in stream:
            parts += [ch.delta.content or "" for ch in chunk.choices]
            usage = chunk.usage or usage
        pairs.append(("".join(parts), whole.choices[0].message.content))
        pairs.append((usage.completion_tokens, whole.usage.completion_tokens))
        text = await c.completions.create(model=served.model, prompt=prompt, temperature=0,
                                          max_tokens=12)
        streamed = await c.completions.create(model=served.model, prompt=prompt, temperature=0,
                                              max_tokens=12, stream=True)
        pairs.append(("".join([ch.choices[0].text async for ch in streamed]),
                      text.choices[0].text))
    return pairs


def test_stream_ends_with_done(served: Served) -> None:
    body = {"model": served.model, "prompt": PROMPTS[0], "max_tokens": 4, "stream": True}
    r = httpx.post(f"{served.base_url}/completions", json=body,
                   headers={"Authorization": f"Bearer {served.api_key}"})
    events = [line for line in r.text.splitlines() if line]
    assert r.headers["content-type"].startswith("text/event-stream")
    assert events[-1] == "data: [DONE]" and len(events) >= 3


def test_usage_reports_cached_prompt_tokens(served: Served) -> None:
    c = client(served)
    messages = [{"role": "user", "content": "Cache me: " + "a long shared context. " * 6}]
    first = c.chat.completions.create(model=served.model, messages=messages, temperature=0,
                                      max_tokens=4)
    second = c.chat.completions.create(model=served.model, messages=messages, temperature=0,
                                       max_tokens=4)
    # The first time only the chat template's opening can be cached (earlier tests sent it).
    assert first.usage.prompt_tokens_details.cached_tokens < served.engine.block_size
    cached, total = second.usage.prompt_tokens_details.cached_tokens, first.usage.prompt_tokens
    assert total - served.engine.block_size <= cached < total


def test_wrong_key_gets_401(served: Served) -> None:
    bad = openai.OpenAI(base_url=served.base_url, api_key="not-the-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as err:
        bad.models.list()
    assert err.value.status_code == 401 and err.value.code == "invalid_api_key"
    r = httpx.post(f"{served.base_url}/completions", json={"model": served.model, "prompt": "x"})
    assert r.status_code == 401 and set(r.json()["error"]) == {"message", "type", "param", "code"}


def test_unknown_model_gets_404(served: Served) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        client(served).completions.create(model="gpt-5", prompt="hi", max_tokens=2)
    assert err.value.code == "model_not_found" and served.model in err.value.message


def test_too_long_prompt_gets_400_naming_lengths(served: Served) -> None:
    limit, text = served.engine.max_context, "x" * served.engine.max_context
    length = len(chat_token_ids(served.engine.tokenizer, text))
    with pytest.raises(openai.BadRequestError) as err:
        client(served).chat.completions.create(model=served.model, max_tokens=2,
                                               messages=[{"role": "user", "content": text}])
    assert err.value.code == "context_length_exceeded"
    assert f"{limit} tokens" in err.value.message and f"{length} tokens" in err.value.message


@pytest.mark.parametrize("ask, param", [({"temperature": 3}, "temperature"),
                                        ({"n": 0}, "n"), ({"logprobs": 2}, "logprobs"),
                                        ({"stop": ["a", "b", "c", "d", "e"]}, "stop")])
def test_bad_parameter_gets_400_naming_it(served: Served, ask: dict, param: str) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client(served).completions.create(model=served.model, prompt="hi", max_tokens=2, **ask)
    assert err.value.param == param


def test_a_json_schema_response_format_constrains_the_answer(served: Served) -> None:
    import json

    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1,
                                                     "maximum": 9}},
              "required": ["n"], "additionalProperties": False}
    answer = client(served).chat.completions.create(
        model=served.model, max_tokens=16, temperature=1.0, seed=3,
        messages=[{"role": "user", "content": "A number?"}],
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}})
    value = json.loads(answer.choices[0].message.content)  # a random model, yet it parses
    assert set(value) == {"n"} and 1 <= value["n"] <= 9
    for bad in ({"type": "json_object"}, {"type": "json_schema", "json_schema": {}}):
        with pytest.raises(openai.BadRequestError) as err:
            client(served).chat.completions.create(
                model=served.model, max_tokens=4, response_format=bad,
                messages=[{"role": "user", "content": "A number?"}])
        assert err.value.param == "response_format"


def test_concurrent_clients_share_engine_steps(served: Served, reference: Engine) -> None:
    prompts = [f"Item {i}: is it blue?" for i in range(64)]
    want = [c.text for c in reference.generate(
        prompts, SamplingParams(max_tokens=8, ignore_eos=True))]
    answers, concurrent, sequential = asyncio.run(_concurrent(served, prompts, 8))
    assert answers == want  # every client got its own answer, as the local engine gives it
    print(f"\n64 concurrent clients: {concurrent} engine steps; 64 sequential: {sequential:.0f}")
    assert concurrent < sequential / 4


async def _concurrent(served: Served, prompts: list[str], max_tokens: int
                      ) -> tuple[list[str], int, float]:
    """The 64 answers asked at once, the engine steps they took, and the steps 64 requests
    one after another take (four measured, scaled)."""
    c = aclient(served)

    async def ask(prompt: str) -> str:
        got = await c.completions.create(model=served.model, prompt=prompt, temperature=0,
                                         max_tokens=max_tokens, extra_body={"ignore_eos": True})
        return got.choices[0].text

    before = served.engine.stats()["steps"]
    answers = await asyncio.gather(*(ask(p) for p in prompts))
    concurrent = served.engine.stats()["steps"] - before
    # One request alone needs max_tokens steps (prefill + decodes); 64 in sequence need 64x.
    before = served.engine.stats()["steps"]
    for p in prompts[:4]:
        await ask(p)
    return list(answers), concurrent, (served.engine.stats()["steps"] - before) / 4 * len(prompts)


def test_short_answer_is_not_held_behind_a_long_one(served: Served) -> None:
    c = client(served)
    long_done = threading.Event()

    def ask_long() -> None:  # its own client: no HTTP connection shared with the short one
        client(served).completions.create(model=served.model, prompt="a long answer",
                                          max_tokens=900, temperature=0,
                                          extra_body={"ignore_eos": True})
        long_done.set()

    long = threading.Thread(target=ask_long)
    long.start()
    # Not polled through the engine: its lock is busy with the long request's steps.
    time.sleep(0.3)
    # The long request is the oldest, so the server steps the engine through its stream; the
    # short one still comes back as soon as the shared steps have finished it.
    short = c.completions.create(model=served.model, prompt="short", max_tokens=4, temperature=0)
    assert short.choices[0].text is not None
    assert not long_done.is_set()
    long.join(timeout=60)
    assert long_done.is_set()


def test_conversation_goes_through_the_chat_template(served: Served, reference: Engine) -> None:
    turns = [{"role": "system", "content": "Answer briefly."},
             {"role": "user", "content": "Name a city."},
             {"role": "assistant", "content": "Paris"},
             {"role": "user", "content": "Another one?"}]
    ids = reference.tokenizer.apply_chat_template(turns, add_generation_prompt=True, tokenize=True)
    ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
    want = reference.generate([ids], SamplingParams(max_tokens=8))[0]
    got = client(served).chat.completions.create(model=served.model, messages=turns,
                                                 temperature=0, max_tokens=8)
    assert got.choices[0].message.content == want.text
    assert got.usage.prompt_tokens == len(ids)
