"""Cross-lingual retrieval: benchmark questions translated into Chinese against the English answers.

The same questions are asked in English and in Chinese of an index of the file's distinct answers (the
answers-only protocol of bench_quality), with the multilingual model; the default model on the Chinese questions
shows what a monolingual model does with them, and the multilingual model's vectors alone what the dictionary's
English keywords (embeddings.chinese) add. The figure that matters is Chinese R@5 / English R@5.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embeddings.encoder import E5_MODEL, load_encoder
from embeddings.errors import counted
from embeddings.qa import QAPair

from .bench_quality import MemoEncoder, _pressroom, _timed, build_index, normalise, read_pair_lines
from .retrieval import Retriever


@dataclass(frozen=True)
class Translated:
    """A benchmark pair and its question in another language."""

    pair: QAPair
    question: str


@dataclass(frozen=True)
class CrossLingual:
    """Rows of the cross-lingual table and the ratio the target is set on."""

    model: str  # the multilingual model
    n: int
    methods: dict[str, dict[str, float]]  # "<language> (<model>)" -> R@k, MRR@10, ms, share answered
    ratio_r5: float  # Chinese R@5 / English R@5, both with the multilingual model
    threshold: float  # the multilingual model's abstention threshold
    off_topic_refused: float | None  # share of Chinese off-topic questions it answers nothing (None: none given)

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "n": self.n, "methods": self.methods, "ratio_R@5": self.ratio_r5,
                "threshold": self.threshold, "off_topic_refused": self.off_topic_refused}


def read_translations(path: Path, pairs: Sequence[QAPair]) -> list[Translated]:
    """The lines ``<pair id>\t<question>`` of ``path`` ('#' lines are comments), matched to ``pairs`` by the
    "id" field of their JSONL lines; a line that cannot be used stops with its number."""
    return [Translated(pair, question) for pair, question in read_pair_lines(path, pairs, "translated question")]


def _ask(questions: Sequence[str], retriever: Retriever, gold: Sequence[str]) -> dict[str, float]:
    """Press Room's ranking (as `ask` does it, abstention included), and the share of questions answered."""
    figures = _timed(questions, _pressroom(retriever), [normalise(g) for g in gold]).metrics()
    figures["answered"] = round(sum(bool(retriever.search(q, 1)) for q in questions) / len(questions), 3)
    return figures


def run_cross_lingual(path: Path, pairs: Sequence[QAPair], translated: Sequence[Translated],
                      monolingual: Retriever, off_topic: Sequence[str], say: Callable[[str], None]) -> CrossLingual:
    """The translated questions in English and in Chinese with the multilingual model, and in both languages
    with ``monolingual`` (Press Room with the run's model over the same answers, already built) for contrast;
    ``off_topic`` questions (in Chinese) check the multilingual model's abstention threshold."""
    e5 = load_encoder(E5_MODEL)
    english = [t.pair.question for t in translated]
    chinese = [t.question for t in translated]
    gold = [t.pair.answer for t in translated]
    methods: dict[str, dict[str, float]] = {}
    if monolingual.encoder.name != E5_MODEL:
        say(f"Asking {counted(len(translated), 'question')} in English and Chinese with {monolingual.encoder.name}…")
        methods[f"english ({monolingual.encoder.name})"] = _ask(english, monolingual, gold)
        methods[f"chinese ({monolingual.encoder.name})"] = _ask(chinese, monolingual, gold)
    say(f"Encoding the answers with {E5_MODEL} and asking {counted(len(translated), 'question')} in English and "
        "Chinese…")
    with tempfile.TemporaryDirectory(prefix="pressroom-bench-") as tmp:
        index = build_index(pairs, Path(tmp) / "index", MemoEncoder(e5), path)
        try:
            multilingual = Retriever(index, e5)
            methods[f"english ({E5_MODEL})"] = _ask(english, multilingual, gold)
            methods[f"chinese ({E5_MODEL})"] = _ask(chinese, multilingual, gold)
            # without the dictionary's English keywords (and so without abstention, calibrated on fused scores)
            vectors = Retriever(index, e5, fusion_weight=0, abstain_below=-math.inf)
            methods[f"chinese, vectors only ({E5_MODEL})"] = _ask(chinese, vectors, gold)
            refused = sum(not multilingual.search(q, 1) for q in off_topic) / len(off_topic) if off_topic else None
        finally:
            index.close()
    en, zh = methods[f"english ({E5_MODEL})"]["R@5"], methods[f"chinese ({E5_MODEL})"]["R@5"]
    return CrossLingual(E5_MODEL, len(translated), methods, round(zh / en, 3) if en else 0.0, e5.abstain_below,
                        None if refused is None else round(refused, 3))
