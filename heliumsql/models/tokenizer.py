"""The built-in model's tokenizer: byte-level BPE trained on the task data, with a chat template.

Byte-level, so any text encodes; digits are split one per token, which makes numbers easy to copy
and compare for a small model; and a space is a token of its own, so a word is the same tokens
after a space, a newline or a JSON string's quote: copying "Grace" from a prompt into
``{"name":"Grace"}`` is copying tokens, not learning that " Grace" and "Grace" mean the same.

>>> tok = train_tokenizer(["Is this review positive or negative? Great mouse."], vocab_size=300)
>>> tok.decode(tok.encode("Price: 182.35", add_special_tokens=False))
'Price: 182.35'
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

BOS, EOS, PAD = "<s>", "</s>", "<pad>"
SPECIAL_TOKENS = (BOS, EOS, PAD, "<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
# The same shape as heliumsql.testing's tiny chat template: role markers, one message per block.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 3072) -> Any:
    """Train a byte-level BPE tokenizer on ``texts``; returns a ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(" ", behavior="isolated"),
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    raw.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=raw, bos_token=BOS, eos_token=EOS,
                                   pad_token=PAD, chat_template=CHAT_TEMPLATE,
                                   clean_up_tokenization_spaces=False)
