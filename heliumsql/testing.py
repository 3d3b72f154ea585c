"""Helpers for tests and examples: tiny random-weight checkpoints that load like real ones."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

ARCHITECTURES = ("llama", "qwen2", "qwen3", "mistral", "gpt2")

# Markers of the tiny chat template; byte-level, so any text round-trips through the tokenizer.
SPECIAL_TOKENS = ("<s>", "</s>", "<pad>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def _config(arch: str, vocab_size: int, bos: int, eos: int, pad: int) -> object:
    import transformers

    common = dict(vocab_size=vocab_size, bos_token_id=bos, eos_token_id=eos, pad_token_id=pad,
                  tie_word_embeddings=False)
    if arch == "gpt2":
        # A larger init spread keeps random logits far apart, so greedy argmax has no near-ties
        # that float rounding between batched and unbatched kernels could flip.
        return transformers.GPT2Config(n_embd=64, n_layer=2, n_head=4, n_positions=1024,
                                       initializer_range=0.2, **common)
    decoder = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                   max_position_embeddings=1024, initializer_range=0.2, **common)
    if arch == "llama":
        return transformers.LlamaConfig(**decoder)
    if arch == "mistral":
        return transformers.MistralConfig(sliding_window=None, **decoder)
    if arch == "qwen2":
        return transformers.Qwen2Config(use_sliding_window=False, **decoder)
    if arch == "qwen3":
        return transformers.Qwen3Config(use_sliding_window=False, **decoder)
    raise ValueError(f"unknown architecture {arch!r}; choose one of {ARCHITECTURES}")


def _byte_level_tokenizer(chat: bool) -> object:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    raw = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.add_special_tokens(list(SPECIAL_TOKENS))
    return PreTrainedTokenizerFast(
        tokenizer_object=raw, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        chat_template=CHAT_TEMPLATE if chat else None)


def tiny_model(path: str | os.PathLike, arch: str = "llama", seed: int = 0,
               chat: bool = True) -> Path:
    """Write a tiny random-weight checkpoint of ``arch`` to ``path`` and return the path.

    The directory holds ``config.json``, ``model.safetensors`` and a byte-level
    ``tokenizer.json`` (with a small chat template unless ``chat=False``); nothing is
    downloaded. It loads through the same code path as any real checkpoint.

    >>> heliumsql.connect(model=tiny_model(tmp_path / "m", arch="qwen3"))   # doctest: +SKIP
    """
    import torch
    from transformers import AutoModelForCausalLM

    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {ARCHITECTURES}")
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _byte_level_tokenizer(chat)
    ids = tokenizer.convert_tokens_to_ids
    config = _config(arch, len(tokenizer), ids("<s>"), ids("</s>"), ids("<pad>"))
    # Seed a private generator's worth of state without touching the caller's RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config.pad_token_id = config.pad_token_id
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    (out / "heliumsql_tiny.json").write_text(json.dumps({"arch": arch, "seed": seed}))
    return out


def logical_plan(sql: str, setup: str = "") -> tuple[Any, Any]:
    """``(plan, con)``: the unoptimized logical plan of ``sql`` over a fresh in-memory DuckDB
    database made by ``setup``, and that connection (for rules' examples and tests; no model).

    >>> plan, con = logical_plan("SELECT llm('Hi {name}') AS a FROM people",
    ...                          "CREATE TABLE people(name VARCHAR)")
    >>> [n.call.text for n in plan.nodes]
    ["llm('Hi {name}')"]
    """
    import duckdb
    import sqlglot

    from heliumsql.binder import Catalog
    from heliumsql.planner import build_plan

    con = duckdb.connect()
    if setup:
        con.execute(setup)
    return build_plan(sqlglot.parse_one(sql, read="helium"), Catalog(con)), con


def tiny_embedding_model(path: str | os.PathLike, seed: int = 0, hidden_size: int = 32) -> Path:
    """Write a tiny random-weight sentence-transformers checkpoint (a 2-layer BERT over the
    byte-level tokenizer, mean pooling) to ``path`` and return the path; nothing is downloaded.
    Needs the ``embed`` extra.

    >>> heliumsql.connect(embedding_model=tiny_embedding_model(tmp_path / "e"))   # doctest: +SKIP
    """
    import torch
    from transformers import BertConfig, BertModel

    from heliumsql.embedding_model import require_sentence_transformers

    st = require_sentence_transformers()
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    out = Path(path)
    base = out / "_bert"
    tokenizer = _byte_level_tokenizer(chat=False)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=2 * hidden_size,
                        max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        BertModel(config).save_pretrained(base, safe_serialization=True)
    tokenizer.save_pretrained(base)
    transformer = Transformer(str(base), max_seq_length=256)
    model = st.SentenceTransformer(modules=[transformer, Pooling(hidden_size, "mean")],
                                   device="cpu")
    model.save(str(out))
    shutil.rmtree(base)
    return out
