"""Turn what a user passes as ``model=`` into a loaded ``(model, tokenizer)`` pair."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Union

import torch

from heliumsql.engine.errors import ModelLoadError

ModelSpec = Union[str, os.PathLike, tuple[Any, Any]]

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
           "fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_dtype(dtype: str | torch.dtype | None, device: str) -> torch.dtype:
    """``None`` means float32 on CPU (exact, and fast enough) and bfloat16 on GPU."""
    if dtype is None:
        return torch.float32 if str(device).startswith("cpu") else torch.bfloat16
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return _DTYPES[str(dtype).lower()]
    except KeyError:
        raise ModelLoadError(f"unknown dtype {dtype!r}; use one of {sorted(set(_DTYPES))}") from None


def load_model(spec: ModelSpec, device: str = "cpu", dtype: str | torch.dtype | None = None
               ) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer.

    ``spec`` is a local checkpoint directory, a Hugging Face id already in the local cache
    (nothing is downloaded), or an already loaded ``(model, tokenizer)`` pair.

    >>> model, tok = load_model("path/to/checkpoint")          # doctest: +SKIP
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = resolve_dtype(dtype, device)
    if isinstance(spec, tuple):
        if len(spec) != 2:
            raise ModelLoadError("model= as a tuple must be (transformers model, tokenizer)")
        model, tokenizer = spec
        return model.to(device).eval(), tokenizer
    name = os.fspath(spec)
    path = Path(name).expanduser()
    looks_like_path = path.is_absolute() or name.startswith((".", "~")) or path.exists()
    if looks_like_path and not path.is_dir():
        raise ModelLoadError(
            f"model path {str(path)!r} does not exist or is not a directory; expected a Hugging "
            "Face checkpoint directory (config.json, *.safetensors and tokenizer files)")
    if looks_like_path and not (path / "config.json").is_file():
        raise ModelLoadError(
            f"model path {str(path)!r} has no config.json; expected a Hugging Face checkpoint "
            "directory (config.json, *.safetensors and tokenizer files)")
    source = str(path) if looks_like_path else name
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(source, local_files_only=True,
                                                     dtype=torch_dtype)
    except (OSError, ValueError) as exc:
        what = "checkpoint directory" if looks_like_path else "model id in the local Hugging Face cache"
        raise ModelLoadError(
            f"could not load model {name!r} as a {what}: {exc}. Pass model= a local checkpoint "
            "directory, a Hugging Face id already downloaded, or a (model, tokenizer) pair"
        ) from exc
    return model.to(device).eval(), tokenizer


def model_fingerprint(model: Any) -> str:
    """A stable identity for a loaded model: its config plus a digest of a few weights."""
    digest = hashlib.sha256(model.config.to_json_string(use_diff=False).encode())
    for _, tensor in list(model.state_dict().items())[:4]:
        digest.update(tensor.detach().float().cpu().flatten()[:4096].numpy().tobytes())
    return digest.hexdigest()[:16]
