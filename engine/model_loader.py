"""Turn what a user passes as ``model=`` into a loaded ``(model, tokenizer)`` pair."""

from __future__ import annotations

import hashlib
import json
import os
import reprlib
from pathlib import Path
from typing import Any, Union

import torch

from heliumsql.engine.errors import ModelLoadError
from heliumsql.engine.placement import check_device

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


def load_model(spec: ModelSpec, device: str = "auto", dtype: str | torch.dtype | None = None
               ) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer and place the model on ``device`` (``"auto"``: CUDA
    when torch sees a GPU, else CPU; ``dtype`` ``None``: bfloat16 on GPU, float32 on CPU).

    ``spec`` is a local checkpoint directory, a Hugging Face id already in the local cache
    (nothing is downloaded), or an already loaded ``(model, tokenizer)`` pair. Any failure, to
    read the checkpoint or to place it on the device, is a :class:`ModelLoadError` naming what
    was given and what was expected.

    >>> model, tok = load_model("path/to/checkpoint")          # doctest: +SKIP
    """
    where = check_device(device, _shown(spec))
    torch_dtype = resolve_dtype(dtype, where.type)
    if isinstance(spec, tuple):
        model, tokenizer = _pair(spec)
        name = _shown(spec)
    elif isinstance(spec, (str, os.PathLike)):
        model, tokenizer = _from_pretrained(os.fspath(spec), torch_dtype)
        name = _shown(spec)
    else:
        raise ModelLoadError(f"model={_shown(spec)} is not a model: {_EXPECTED}")
    layers = getattr(model.config, "num_hidden_layers", None)
    if layers is not None and layers < 1:
        raise ModelLoadError(f"model {name} has num_hidden_layers={layers} in its config; a "
                             "causal LM needs at least one layer")
    try:
        return model.to(where).eval(), tokenizer
    except (RuntimeError, AssertionError, ValueError) as exc:  # torch's "no such device" kinds
        raise ModelLoadError(f"could not place model {name} on device {device!r}: {exc}") from exc


_EXPECTED = ("expected a Hugging Face checkpoint directory (config.json, *.safetensors and "
             "tokenizer files), a Hugging Face id already downloaded, or a (transformers model, "
             "tokenizer) pair")


def _shown(spec: object) -> str:
    """How a message names what was given as ``model=``: a path as is, anything else short."""
    if isinstance(spec, (str, os.PathLike)):
        return repr(os.fspath(spec))
    return reprlib.repr(spec)


def _pair(spec: tuple[Any, ...]) -> tuple[Any, Any]:
    if len(spec) != 2 or not isinstance(spec[0], torch.nn.Module) or spec[1] is None \
            or not hasattr(spec[0], "config"):
        shown = tuple(type(x).__name__ for x in spec)
        raise ModelLoadError(f"model={_shown(spec)} (a tuple of {', '.join(shown)}) is not a "
                             f"(transformers model, tokenizer) pair; {_EXPECTED}")
    return spec[0], spec[1]


def _from_pretrained(name: str, torch_dtype: torch.dtype) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(name).expanduser()
    looks_like_path = path.is_absolute() or name.startswith((".", "~")) or path.exists()
    if looks_like_path:
        _check_checkpoint_dir(path)
    source = str(path) if looks_like_path else name
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(source, local_files_only=True,
                                                     dtype=torch_dtype)
    except Exception as exc:  # noqa: BLE001 - whatever a broken checkpoint raises, say so here
        what = "checkpoint directory" if looks_like_path else "model id in the local Hugging Face cache"
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if "mismatched_sizes" in detail:  # transformers logs the shapes and says "see above"
            detail = "the weights' shapes do not match the sizes in config.json"
        raise ModelLoadError(f"could not load model {name!r} as a {what} "
                             f"({type(exc).__name__}: {detail}); {_EXPECTED}") from exc
    return model, tokenizer


def _check_checkpoint_dir(path: Path) -> None:
    """What ``from_pretrained`` would misreport: no directory, no config, a config that is not
    a JSON object."""
    shown = str(path)
    if not path.is_dir():
        raise ModelLoadError(f"model path {shown!r} does not exist or is not a directory; "
                             f"{_EXPECTED}")
    config = path / "config.json"
    if not config.is_file():
        raise ModelLoadError(f"model path {shown!r} has no config.json; {_EXPECTED}")
    try:
        settings = json.loads(config.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise ModelLoadError(f"{str(config)!r} is not valid JSON ({exc}); expected the model's "
                             "settings as a JSON object") from exc
    if not isinstance(settings, dict):
        raise ModelLoadError(f"{str(config)!r} holds a JSON {type(settings).__name__}; expected "
                             "the model's settings as a JSON object")


def context_length(model: Any) -> int:
    """The longest sequence (prompt and answer) the model's positions cover."""
    config = model.config
    return int(getattr(config, "max_position_embeddings", None)
               or getattr(config, "n_positions", 2048))


def model_fingerprint(model: Any) -> str:
    """A stable identity for a loaded model: its config plus a digest of a few weights."""
    digest = hashlib.sha256(model.config.to_json_string(use_diff=False).encode())
    add_weights_digest(digest, model)
    return digest.hexdigest()[:16]


def add_weights_digest(digest: Any, model: Any) -> None:
    """Feed ``digest`` (a hashlib object) the first values of a module's first four tensors:
    enough to tell checkpoints apart without hashing every weight."""
    for _, tensor in list(model.state_dict().items())[:4]:
        digest.update(tensor.detach().float().cpu().flatten()[:4096].numpy().tobytes())
