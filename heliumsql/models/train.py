"""Train the built-in model: generate the task data, train a tokenizer and a small Llama, evaluate.

Run ``python -m heliumsql.models.train`` (CPU, 4,000 steps, about 47 minutes on two threads with
``--threads 2``; README's "The built-in model" gives the two commands that built the shipped one)
or with ``--device cuda``.
It writes the checkpoint (float16 safetensors, tokenizer with chat template, generation config)
and ``metrics.json`` with the held-out accuracy per task to ``--out`` (default: the package's
``heliumsql/models/builtin/``). Progress is printed as it goes; ``--resume`` continues from the
last saved training state in ``--work``.

    $ python -m heliumsql.models.train --out /tmp/m --steps 200      # a quick, weaker model
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from heliumsql.models.data import heldout_split, train_split
from heliumsql.models.evaluate import by_template, chat_ids, evaluate
from heliumsql.models.example import Example
from heliumsql.models.tokenizer import train_tokenizer
from heliumsql.models.vocabulary import PHRASING, WORDS

DEFAULT_OUT = Path(__file__).resolve().parent / "builtin"
MAX_LEN = 320  # longest training sequence kept; the generated prompts stay well below it


def model_shape(hidden: int, layers: int) -> dict:
    """Llama shape for a width and depth: heads of 32 dims, SwiGLU MLP of ~2.7x the width."""
    return dict(hidden_size=hidden, intermediate_size=(hidden * 8 // 3 + 15) // 16 * 16,
                num_hidden_layers=layers, num_attention_heads=hidden // 32,
                num_key_value_heads=hidden // 32, max_position_embeddings=1024)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m heliumsql.models.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="checkpoint directory to write")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "heliumsql-train",
                    help="where the resumable training state is kept")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--hidden", type=int, default=256, help="model width")
    ap.add_argument("--layers", type=int, default=4, help="model depth")
    ap.add_argument("--lm-weight", type=float, default=0.2,
                    help="weight of the next-token loss on prompt tokens (answers weigh 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--vocab-size", type=int, default=3072)
    ap.add_argument("--eval-per-task", type=int, default=100, help="held-out items per task")
    ap.add_argument("--eval-every", type=int, default=500, help="quick held-out check interval")
    ap.add_argument("--resume", action="store_true", help="continue from --work's saved state")
    ap.add_argument("--weights", default="",
                    help="task=weight,... overriding tasks.TASKS' mix (e.g. to fine-tune on some)")
    ap.add_argument("--max-minutes", type=float, default=0,
                    help="stop training after this many minutes (then save and evaluate as usual); "
                         "0: no limit")
    ap.add_argument("--init", type=Path, default=None,
                    help="start from this checkpoint's weights and tokenizer (e.g. the previous "
                         "built-in model) instead of training both from scratch")
    return ap.parse_args(argv)


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def encode(tokenizer: Any, ex: Example) -> tuple[list[int], int] | None:
    """(prompt + answer + eos ids, prompt length), or None if longer than MAX_LEN.

    The answer is bare: the tokenizer makes a space its own token, so a copied word is the same
    token in the prompt and in the answer ("Paris" after a space or after a JSON string's quote).
    """
    prompt = chat_ids(tokenizer, ex)
    answer = tokenizer.encode(ex.answer, add_special_tokens=False) + [tokenizer.eos_token_id]
    ids = prompt + answer
    return (ids, len(prompt)) if len(ids) <= MAX_LEN else None


def make_batches(encoded: list[tuple[list[int], int]], batch_size: int, seed: int
                 ) -> list[list[tuple[list[int], int]]]:
    """Batches of similar length (sorted within pools of 32 batches), in a seeded random order."""
    rng = random.Random(f"batches-{seed}")
    pool = batch_size * 32
    batches = []
    for start in range(0, len(encoded), pool):
        chunk = sorted(encoded[start:start + pool], key=lambda e: len(e[0]))
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return [b for b in batches if len(b) == batch_size]


def collate(batch: list[tuple[list[int], int]], pad_id: int, device: str
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ids and mask; (row, position) of every token to predict and whether it is
    an answer token (the rest are prompt tokens, for the auxiliary language-model loss)."""
    width = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    rows, cols, is_answer = [], [], []
    for r, (seq, plen) in enumerate(batch):
        ids[r, :len(seq)] = torch.tensor(seq)
        mask[r, :len(seq)] = 1
        # Position p predicts token p+1; the answer starts right after the prompt.
        rows += [r] * (len(seq) - 1)
        cols += range(len(seq) - 1)
        is_answer += [p >= plen - 1 for p in range(len(seq) - 1)]
    return (ids.to(device), mask.to(device), torch.tensor(rows, device=device),
            torch.tensor(cols, device=device), torch.tensor(is_answer, device=device))


def build_model(tokenizer: Any, seed: int, shape: dict) -> Any:
    from transformers import AutoModelForCausalLM, LlamaConfig

    ids = tokenizer.convert_tokens_to_ids
    config = LlamaConfig(vocab_size=len(tokenizer), bos_token_id=ids("<s>"), eos_token_id=ids("</s>"),
                         pad_token_id=ids("<pad>"), tie_word_embeddings=True, initializer_range=0.02,
                         **shape)
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config, dtype=torch.float32)


def lr_at(step: int, total: int, peak: float) -> float:
    """Linear warm-up over 100 steps, then cosine decay to a tenth of the peak."""
    warm = min(100, total // 10 or 1)
    if step < warm:
        return peak * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def batch_loss(model: Any, batch: tuple[torch.Tensor, ...], lm_weight: float) -> torch.Tensor:
    """Mean cross-entropy of the answer tokens plus ``lm_weight`` times that of the prompt tokens.

    The prompt term is a cheap extra signal: predicting the templated texts teaches the small
    model the lexicon and where things sit, which the one-token answers alone teach slowly.
    """
    ids, mask, rows, cols, is_answer = batch
    if lm_weight == 0:
        rows, cols, is_answer = rows[is_answer], cols[is_answer], is_answer[is_answer]
    hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
    logits = model.lm_head(hidden[rows, cols])
    losses = torch.nn.functional.cross_entropy(logits.float(), ids[rows, cols + 1], reduction="none")
    loss = losses[is_answer].mean()
    if lm_weight:
        loss = loss + lm_weight * losses[~is_answer].mean()
    return loss


def quick_check(model: Any, tokenizer: Any, heldout: dict[str, list[Example]], device: str) -> str:
    """Held-out exact match on a few items per task, for the progress log."""
    from heliumsql.engine import HFGenerateEngine

    engine = HFGenerateEngine((model, tokenizer), device=device)
    scores = evaluate(engine, {t: items[:12] for t, items in heldout.items()})
    model.train()
    return " ".join(f"{t}={s['score']:.2f}" for t, s in scores.items())


def save_checkpoint(model: Any, tokenizer: Any, out: Path) -> None:
    """float16 safetensors (half the size; load_model reads it back as float32 on CPU)."""
    from transformers import GenerationConfig

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    half = model.to(torch.float16)
    half.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, do_sample=False)
    half.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    model.to(torch.float32)


def _weights(text: str) -> dict[str, float]:
    """``--weights task=w,...`` parsed; a malformed item stops the run before any work."""
    weights = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise SystemExit(f"--weights: {item!r} is not TASK=NUMBER "
                             "(e.g. --weights extract_json=6,classify=2)") from None
    return weights


def train(args: argparse.Namespace) -> dict:
    """Run the whole pipeline for parsed ``args``; returns the metrics written to metrics.json."""
    started = time.time()
    heldout = heldout_split(args.seed, args.eval_per_task)
    unseen = {split: heldout_split(args.seed, args.eval_per_task, split) for split in (PHRASING, WORDS)}
    weights = _weights(args.weights)
    items = train_split(args.steps * args.batch_size, args.seed, exclude=heldout, weights=weights)
    if args.init:
        from heliumsql.engine import load_model

        init_model, tokenizer = load_model(str(args.init))
    else:
        corpus = [ex.prompt for ex in items[:40000]] + [ex.answer for ex in items[:40000]]
        corpus += sorted({ex.system for ex in items if ex.system})
        tokenizer = train_tokenizer(corpus, args.vocab_size)
    encoded = [e for e in (encode(tokenizer, ex) for ex in items) if e is not None]
    batches = make_batches(encoded, args.batch_size, args.seed)
    log(f"data: {len(items)} training items, {sum(map(len, heldout.values()))} held-out, "
        f"vocab {len(tokenizer)}, {len(batches)} batches ({time.time() - started:.0f}s)")

    if args.init:
        shape = {k: getattr(init_model.config, k) for k in model_shape(args.hidden, args.layers)}
        model = init_model.float().to(args.device)
    else:
        shape = model_shape(args.hidden, args.layers)
        model = build_model(tokenizer, args.seed, shape).to(args.device)
    num_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=0.01)
    state_path = args.work / "state.pt"
    step = 0
    if args.resume and state_path.exists():
        state = torch.load(state_path, map_location=args.device)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
        log(f"resumed at step {step}")
    log(f"model: {num_params / 1e6:.2f}M parameters, {args.steps} steps of {args.batch_size} on {args.device}")

    model.train()
    total = min(args.steps, len(batches))
    t0, first, running = time.time(), step, None
    while step < total:
        if args.max_minutes and time.time() - t0 > args.max_minutes * 60:
            log(f"time budget of {args.max_minutes} min spent at step {step}; stopping here")
            total = step
            break
        for group in opt.param_groups:
            group["lr"] = lr_at(step, total, args.lr)
        loss = batch_loss(model, collate(batches[step], tokenizer.pad_token_id, args.device), args.lm_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        if step % 50 == 0 or step == total:
            rate = (time.time() - t0) / max(1, step - first)
            log(f"step {step}/{total} loss {running:.4f} lr {lr_at(step - 1, total, args.lr):.2e} "
                f"eta {rate * (total - step) / 60:.1f} min")
        if step % 200 == 0 and step < total:
            args.work.mkdir(parents=True, exist_ok=True)
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step}, state_path)
        if args.eval_every and step % args.eval_every == 0 and step < total:
            log("check: " + quick_check(model, tokenizer, heldout, args.device))
            log("check unseen phrasing: " + quick_check(model, tokenizer, unseen[PHRASING], args.device))
    train_seconds = time.time() - started

    save_checkpoint(model.eval(), tokenizer, args.out)
    log(f"saved checkpoint to {args.out}; evaluating the saved weights on the held-out split")
    scores = evaluate(args.out, heldout, device=args.device, log=log)
    log("unseen phrasings:")
    phrasing = evaluate(args.out, unseen[PHRASING], device=args.device, log=log)
    log("unseen words:")
    words = evaluate(args.out, unseen[WORDS], device=args.device, log=log)
    metrics = dict(tasks=scores, unseen_phrasing=phrasing, unseen_words=words,
                   unseen_phrasing_by_template=by_template(args.out, unseen[PHRASING],
                                                           device=args.device),
                   num_parameters=num_params, steps=total, batch_size=args.batch_size,
                   seed=args.seed, device=args.device, train_seconds=round(train_seconds),
                   lr=args.lr, lm_weight=args.lm_weight, weights=weights or None,
                   threads=args.threads,
                   init=args.init.name if args.init else None,
                   model=dict(architecture="llama", vocab_size=len(tokenizer), **shape))
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    if state_path.exists():
        state_path.unlink()
    log(f"done in {(time.time() - started) / 60:.1f} min; metrics in {args.out / 'metrics.json'}")
    return metrics


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    train(args)


if __name__ == "__main__":
    main()
