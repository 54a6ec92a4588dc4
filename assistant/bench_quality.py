"""Retrieval quality on a question→answer file: bm25, dense and Press Room side by side (Recall@k, MRR@10, ms),
and on request other offline models and the cross-encoder beside them (``compare``).

Protocol (fixed, so figures compare across versions): the corpus is the file's distinct answer texts, the
queries are its questions, a hit is the question's own answer (identical text counts). Pairs are split by
date: the latest 30 % of dates are the test split, the rest the tune split, which is the only one any
setting of Press Room was chosen on.

A second protocol, short rewordings (``--rewordings FILE``): users type short questions that resemble the
journalist's question more than the official answer. The corpus is the same distinct answers, each also keyed by
the questions it replied to (as `pressroom ingest` indexes them); the queries are short rewordings of pairs' questions,
a hit is the reworded pair's answer. bm25 and dense rank the same keys, max-pooled per answer; "pressroom, answers
only" is the first protocol's index (no question keys), so the gain of the keys shows.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embeddings.encoder import BGE_SMALL, MPNET, Encoder, load_compared
from embeddings.errors import PressroomError, counted
from embeddings.index import Index, IndexWriter
from embeddings.keywords import KeywordIndex
from embeddings.qa import QAPair, conferences_from_pairs, read_pairs
from embeddings.reranker import load_reranker
from embeddings.tune import SCALE, TunedModel

from .questions import strip_framing
from .retrieval import FUSION_WEIGHT, Retriever

if TYPE_CHECKING:
    from .bench_crosslingual import CrossLingual

TEST_SHARE = 0.3  # latest share of dates held out as the test split
DEPTH = 10  # ranks looked at: Recall@1/5/10 and MRR@10
WARMUP = 5  # questions asked before timing starts, per method
SPLITS = ("test", "tune", "all")
# What `--compare` can add: another offline model (its exact dense search and Press Room's ranking with it), or the
# cross-encoder over Press Room's top RERANK_DEPTH.
COMPARE = {"bge-small": BGE_SMALL, "mpnet": MPNET, "rerank": ""}
RERANK_DEPTH = 20
# Blend: fused score + RERANK_WEIGHT × the cross-encoder's probability. Chosen on the tune split (`--steps
# --compare rerank` shows the weights tried): 0.075 gave R@1 0.359 / MRR@10 0.467 against 0.345 / 0.457 fused and
# 0.310 / 0.405 for a pure rerank (2026-11-29). A pure rerank is the limit of a large weight.
RERANK_WEIGHT = 0.075
BLEND_WEIGHTS = (0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0)


@dataclass(frozen=True)
class Split:
    """The pairs of one split and where it lies in time."""

    name: str
    pairs: tuple[QAPair, ...]
    first: str
    last: str


@dataclass
class Run:
    """One method over one split: the rank of the right answer per question (None: not in the top 10), and ms."""

    ranks: list[int | None] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        n = max(len(self.ranks), 1)
        found = [r for r in self.ranks if r is not None]
        out = {f"R@{k}": round(sum(r <= k for r in found) / n, 3) for k in (1, 5, 10)}
        out["MRR@10"] = round(sum(1 / r for r in found) / n, 3)
        out["p50_ms"] = round(statistics.median(self.ms), 2) if self.ms else 0.0
        out["p99_ms"] = round(float(np.percentile(self.ms, 99)), 2) if self.ms else 0.0
        return out


@dataclass(frozen=True)
class Abstention:
    """How the abstention threshold does: off-topic questions refused, real ones lost."""

    threshold: float
    off_topic: int
    refused: float  # share of off-topic questions with no answer
    lost_r1: float  # Recall@1 lost on the split's real questions (right answer first, yet refused)


@dataclass(frozen=True)
class Rewordings:
    """The second protocol: short rewordings of pairs' questions against answers keyed by their questions."""

    n: int  # rewordings asked
    pairs: int  # distinct pairs reworded
    methods: dict[str, dict[str, float]]
    refused: float | None = None  # share of the off-topic questions pressroom (with question keys) answers not


@dataclass(frozen=True)
class QualityReport:
    """Everything `pressroom bench quality` prints."""

    n: int
    split: str
    dates: tuple[str, str]
    answers: int
    methods: dict[str, dict[str, float]]
    steps: dict[str, dict[str, float]] | None = None  # tune split, each step of Press Room's ranking added in turn
    abstention: Abstention | None = None
    tuned_abstention: Abstention | None = None  # the tuned model's own threshold (its manifest's), same questions
    rewordings: Rewordings | None = None
    chinese: CrossLingual | None = None  # the same questions in Chinese and English, multilingual model
    tuned_from: TunedModel | None = None  # the tuned model's manifest: which pairs it was trained on

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": self.n, "split": self.split, "dates": list(self.dates), "answers": self.answers,
                               "methods": self.methods}
        if self.steps is not None:
            out["steps"] = self.steps
        if self.abstention is not None:
            out["abstention"] = vars(self.abstention)
        if self.tuned_abstention is not None:
            out["abstention-tuned"] = vars(self.tuned_abstention)
        if self.rewordings is not None:
            out["rewordings"] = {"n": self.rewordings.n, "pairs": self.rewordings.pairs,
                                 "methods": self.rewordings.methods, "off_topic_refused": self.rewordings.refused}
        if self.chinese is not None:
            out["chinese"] = self.chinese.to_json()
        if self.tuned_from is not None:
            out["tuned"] = asdict(self.tuned_from)
        return out

    def tuned_data(self) -> str | None:
        """One sentence on what the tuned model was trained on, and whether that leaves this split unseen."""
        t = self.tuned_from
        if t is None:
            return None
        files = ", ".join(Path(f).name for f in t.files) or "unrecorded files"
        seen = (" (pairs older than the first file's test split)" if t.split == "tune"
                else " (every pair: if this file was among them, its test split is no fair test)")
        rate = f", learning rate {t.learning_rate:g}" if t.learning_rate else ""
        soup = f", weights averaged with {', '.join(t.soup)}" if t.soup else ""
        scale = f", loss scale {t.scale:g}" if t.scale != SCALE else ""
        return (f"pressroom-tuned: {t.name}, trained on {counted(t.pairs, 'pair')} of {files}{seen}, "
                f"{counted(t.epochs, 'epoch')}, "
                f"batch {t.batch_size}{rate}{scale}{soup}.")


def normalise(text: str) -> str:
    """Answer identity: the same words, whatever the line breaks (an index joins paragraphs with blank lines)."""
    return " ".join(text.split())


def read_benchmark(path: Path) -> list[QAPair]:
    """The pairs of a Q&A file, or one sentence saying which line is wrong."""
    pairs, problems = read_pairs(path)
    if problems:
        raise PressroomError(f"{problems[0]} Fix the file (one JSON object with question and answer a line).")
    return pairs


def split_pairs(pairs: Sequence[QAPair], split: str) -> Split:
    """The pairs of ``split``: 'test' (latest 30 % of dates), 'tune' (the rest) or 'all'."""
    if split not in SPLITS:
        raise PressroomError(f"split must be one of {', '.join(SPLITS)} (got {split!r}).")
    cut = test_cut(pairs) if split != "all" else ""

    def side(p: QAPair) -> str:  # undated pairs count as old: they never land in the test split
        return "test" if p.day and p.day.isoformat() >= cut else "tune"

    chosen = tuple(p for p in pairs if split == "all" or side(p) == split)
    days = sorted(p.day.isoformat() for p in chosen if p.day)
    return Split(split, chosen, days[0] if days else "", days[-1] if days else "")


def test_cut(pairs: Sequence[QAPair]) -> str:
    """The first date (ISO) of the test split: the latest 30 % of the pairs' distinct dates."""
    dates = sorted({p.day.isoformat() for p in pairs if p.day})
    if len(dates) < 2:
        raise PressroomError(f"The file has {counted(len(dates), 'distinct date')}; a tune/test split needs at least 2 "
                             "(use --split all).")
    return dates[-math.ceil(len(dates) * TEST_SHARE)]


def training_pairs(files: Sequence[Path], split: str) -> list[QAPair]:
    """The pairs `pressroom tune` trains on: every pair of ``files``, or with ``split`` 'tune' only those dated
    before the test split of the first file (the benchmark), so that its test split stays unseen.

    More files add training data, e.g. older transcripts of the same press office; with 'tune' their pairs
    from the test split's dates on are left out too.
    """
    first = read_benchmark(files[0])
    pairs = first + [p for path in files[1:] for p in read_benchmark(path)]
    if split == "all":
        return pairs
    cut = test_cut(first)
    return [p for p in pairs if not (p.day and p.day.isoformat() >= cut)]


def distinct_answers(pairs: Sequence[QAPair]) -> dict[str, QAPair]:
    """The first pair of each distinct answer, by answer identity (see :func:`normalise`)."""
    out: dict[str, QAPair] = {}
    for p in pairs:
        out.setdefault(normalise(p.answer), p)
    return out


class MemoEncoder:
    """The encoder, remembering each text's vector: the index reuses the dense baseline's answer vectors."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self.name, self.dim, self.abstain_below = encoder.name, encoder.dim, encoder.abstain_below
        self.question_key_margin = encoder.question_key_margin
        self.memo: dict[tuple[str, bool], np.ndarray] = {}  # (text, as a query)

    def encode(self, texts: Sequence[str], *, progress: bool = False, query: bool = False) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if (t, query) not in self.memo))
        if todo:
            vectors = self.encoder.encode(todo, progress=progress, query=query)
            self.memo.update(zip([(t, query) for t in todo], vectors, strict=True))
        return np.stack([self.memo[t, query] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


def build_index(pairs: Sequence[QAPair], root: Path, encoder: Encoder, path: Path, *,
                question_keys: bool = False) -> Index:
    """An index of the distinct answers of ``pairs``, built as `pressroom ingest` builds one.

    Without ``question_keys`` the answers alone are keys (the first protocol). With them, every pair is read,
    so an answer given to several questions is one passage (as ingest merges repeats) keyed by all of them.
    """
    # One conference per answer or pair: its id comes from the source, which must then be a URL (Conference.id).
    base = path.resolve().as_uri()
    if question_keys:
        unique = [replace(p, source=f"{base}#pair-{i}") for i, p in enumerate(pairs)]
    else:
        unique = [replace(p, source=f"{base}#answer-{i}") for i, p in enumerate(distinct_answers(pairs).values())]
    with IndexWriter(root, encoder, rebuild=True, question_keys=question_keys) as writer:
        writer.store.db.execute("BEGIN")
        for conference in conferences_from_pairs(unique, path):
            writer.store.put(conference, [(conference.source, "")])
        writer.store.db.execute("COMMIT")
        writer.commit()
    return Index.open(root, model=encoder.name)


def _timed(questions: Sequence[str], rank: Callable[[str], list[str]], gold: Sequence[str]) -> Run:
    """Rank the answers for each question; record where the right one is and how long it took."""
    for q in questions[:WARMUP]:
        rank(q)
    run = Run()
    for q, g in zip(questions, gold, strict=True):
        start = time.perf_counter()
        ranked = rank(q)
        run.ms.append((time.perf_counter() - start) * 1000)
        run.ranks.append(next((i for i, a in enumerate(ranked[:DEPTH], 1) if a == g), None))
    return run


def _pressroom(retriever: Retriever) -> Callable[[str], list[str]]:
    return lambda q: [normalise(h.answer.text) for h in retriever.search(q, DEPTH)]


def run_quality(path: Path, encoder: Encoder, *, split: str = "test", steps: bool = False,
                off_topic: Sequence[str] = (), tuned: Encoder | None = None, tuned_from: TunedModel | None = None,
                rewordings: Path | None = None,
                chinese: Path | None = None, chinese_off_topic: Sequence[str] = (), compare: Sequence[str] = (),
                progress: Callable[[str], None] | None = None) -> QualityReport:
    """Benchmark bm25, dense (exact) and Press Room on the Q&A file ``path``.

    Args:
        path: JSONL with ``question``, ``answer`` and ``date`` on each line (see embeddings.qa).
        encoder: the model Press Room and the dense baseline use.
        split: 'test', 'tune' or 'all'.
        steps: also measure, on the tune split, each step of Press Room's ranking added in turn.
        off_topic: questions with no answer in the file, to measure abstention.
        tuned: a model made by `pressroom tune` on the tune split, benchmarked as ``pressroom-tuned``.
        tuned_from: its manifest (embeddings.tune.read_manifest), reported with the figures.
        rewordings: a file of short rewordings of the file's questions (see :func:`read_pair_lines`): run
            the second protocol, with the questions as keys.
        chinese: ``<pair id>\t<question in Chinese>`` lines: adds the cross-lingual table (bench_crosslingual).
        chinese_off_topic: Chinese questions with no answer in the file, for the multilingual model's abstention.
        compare: keys of COMPARE: 'bge-small' and 'mpnet' add ``dense-<key>`` and ``pressroom-<key>`` (that model
            in place of the default); 'rerank' adds ``pressroom+rerank`` (the cross-encoder reorders Press Room's
            top RERANK_DEPTH) and ``pressroom+blend`` (fused score + RERANK_WEIGHT × its probability).
        progress: called with a line of progress now and then.

    Returns:
        The figures per method, and per step and for abstention when asked.
    """
    say = progress or (lambda _: None)
    unknown = [key for key in compare if key not in COMPARE]
    if unknown:
        raise PressroomError(f"--compare takes {', '.join(COMPARE)} (got {', '.join(unknown)}).")
    pairs = read_benchmark(path)
    reworded = read_pair_lines(rewordings, pairs) if rewordings else None
    chosen = split_pairs(pairs, split)
    if not chosen.pairs:
        raise PressroomError(f"The {split} split of {path} is empty.")
    distinct = distinct_answers(pairs)
    answers = list(distinct)
    memo = MemoEncoder(encoder)
    say(f"Encoding {counted(len(answers), 'distinct answer')}…")
    matrix = memo.encode([p.answer.strip() for p in distinct.values()])  # as the index's one-line paragraphs
    keywords = KeywordIndex.build(answers)
    with tempfile.TemporaryDirectory(prefix="pressroom-bench-") as tmp:
        index = build_index(pairs, Path(tmp) / "index", memo, path)
        try:
            product = Retriever(index, encoder)
            questions = [p.question for p in chosen.pairs]
            gold = [normalise(p.answer) for p in chosen.pairs]

            def bm25(q: str) -> list[str]:
                return [answers[i] for i in np.argsort(-keywords.scores(q), kind="stable")[:DEPTH]]

            methods: dict[str, dict[str, float]] = {}
            runs: dict[str, Run] = {}
            for name, rank in (("bm25", bm25), ("dense", _dense(matrix, answers, encoder)),
                               ("pressroom", _pressroom(product))):
                say(f"Asking {counted(len(questions), 'question')}: {name}…")
                runs[name] = _timed(questions, rank, gold)
                methods[name] = runs[name].metrics()
            tuned_abstention = None
            if tuned is not None:
                say(f"Encoding the answers with {tuned.name} and asking {counted(len(questions), 'question')}…")
                with tempfile.TemporaryDirectory(prefix="pressroom-bench-") as tuned_tmp:
                    tuned_index = build_index(pairs, Path(tuned_tmp) / "index", MemoEncoder(tuned), path)
                    try:
                        run = _timed(questions, _pressroom(Retriever(tuned_index, tuned)), gold)
                        if off_topic:
                            tuned_abstention = _abstention(tuned_index, tuned, questions, gold, run, off_topic)
                    finally:
                        tuned_index.close()
                methods["pressroom-tuned"] = run.metrics()
            for key in compare:
                if key == "rerank":
                    say(f"Reranking the top {RERANK_DEPTH} of {counted(len(questions), 'question')} with the "
                        "cross-encoder…")
                    reranked = _reranked(product, questions, gold, {"pressroom+rerank": None,
                                                                    "pressroom+blend": RERANK_WEIGHT})
                    methods.update((name, run.metrics()) for name, run in reranked.items())
                else:
                    methods.update(_other_model(COMPARE[key], key, pairs, path, questions, gold, say))
            abstention = None
            if off_topic:
                say(f"Asking {len(off_topic)} off-topic questions…")
                abstention = _abstention(index, encoder, questions, gold, runs["pressroom"], off_topic)
            step_table = _steps(split_pairs(pairs, "tune"), index, encoder, "rerank" in compare) if steps else None
            keyed = None
            if reworded:
                say(f"Indexing the answers with their questions as keys; asking {counted(len(reworded), 'rewording')}…")
                keyed = _rewordings(pairs, reworded, memo, path, Path(tmp) / "keyed", product, off_topic)
            cross = None
            if chinese is not None:
                from .bench_crosslingual import read_translations, run_cross_lingual  # it imports this module

                cross = run_cross_lingual(path, pairs, read_translations(chinese, pairs), product,
                                          chinese_off_topic, say)
        finally:
            index.close()
    return QualityReport(n=len(chosen.pairs), split=split, dates=(chosen.first, chosen.last), answers=len(answers),
                         methods=methods, steps=step_table, abstention=abstention,
                         tuned_abstention=tuned_abstention, rewordings=keyed, chinese=cross, tuned_from=tuned_from)


def _abstention(index: Index, encoder: Encoder, questions: Sequence[str], gold: Sequence[str], run: Run,
                off_topic: Sequence[str]) -> Abstention:
    """How ``encoder``'s own threshold does on ``index``: off-topic questions refused, and real questions whose
    right answer would have come first yet were refused (``run`` is the ranking with that threshold)."""
    refused = sum(not Retriever(index, encoder).search(q, 1) for q in off_topic) / len(off_topic)
    always = _pressroom(Retriever(index, encoder, abstain_below=-math.inf))
    lost = sum(1 for q, g, r in zip(questions, gold, run.ranks, strict=True) if r is None and always(q)[:1] == [g])
    return Abstention(encoder.abstain_below, len(off_topic), round(refused, 3), round(lost / len(questions), 3))


def read_pair_lines(path: Path, pairs: Sequence[QAPair], what: str = "rewording") -> list[tuple[QAPair, str]]:
    """The (pair, text) lines of a file of questions keyed by pair, or one sentence saying which line is wrong.

    One ``what`` a line (a rewording; a translation for the cross-lingual table): the pair's ``id`` (the JSONL
    field), a tab, the text. Lines starting with ``#`` and blank lines are skipped.
    """
    by_id = {p.id: p for p in pairs if p.id}
    out: list[tuple[QAPair, str]] = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        pair_id, _, text = line.partition("\t")
        if not text.strip():
            raise PressroomError(f"{path} line {number} is not '<pair id>\\t<{what}>' (got {line[:60]!r}).")
        if pair_id.strip() not in by_id:
            raise PressroomError(f"{path} line {number}: no pair has the id {pair_id.strip()!r} in the Q&A file.")
        out.append((by_id[pair_id.strip()], text.strip()))
    if not out:
        raise PressroomError(f"{path} has no {what}s (one '<pair id>\\t<{what}>' a line).")
    return out


def _rewordings(pairs: Sequence[QAPair], reworded: Sequence[tuple[QAPair, str]], memo: MemoEncoder, path: Path,
                root: Path, answers_only: Retriever, off_topic: Sequence[str]) -> Rewordings:
    """The second protocol: each distinct answer keyed by itself and by every question it replied to.

    With ``off_topic`` questions, also the share of them that get no answer once questions are keys.
    """
    answers = list(distinct_answers(pairs))
    number = {a: i for i, a in enumerate(answers)}
    texts = [p.answer.strip() for p in distinct_answers(pairs).values()] + [p.question for p in pairs]
    owner = np.array(list(range(len(answers))) + [number[normalise(p.answer)] for p in pairs])
    matrix = memo.encode(texts)
    keywords = KeywordIndex.build(texts)

    def pooled(scores: np.ndarray) -> list[str]:  # an answer scores as its best key
        best = np.full(len(answers), -np.inf, dtype=np.float32)
        np.maximum.at(best, owner, scores)
        return [answers[i] for i in np.argsort(-best, kind="stable")[:DEPTH]]

    questions = [text for _, text in reworded]
    gold = [normalise(p.answer) for p, _ in reworded]
    index = build_index(pairs, root, memo, path, question_keys=True)
    try:
        product = Retriever(index, memo.encoder)
        methods = {
            "bm25": _timed(questions, lambda q: pooled(keywords.scores(q)), gold).metrics(),
            "dense": _timed(questions, lambda q: pooled(matrix @ memo.encoder.encode([q], query=True)[0]),
                            gold).metrics(),
            "pressroom": _timed(questions, _pressroom(product), gold).metrics(),
            "pressroom, answers only": _timed(questions, _pressroom(answers_only), gold).metrics(),
        }
        refused = round(sum(not product.search(q, 1) for q in off_topic) / len(off_topic), 3) if off_topic else None
    finally:
        index.close()
    return Rewordings(n=len(reworded), pairs=len({p.line for p, _ in reworded}), methods=methods, refused=refused)


def _dense(matrix: np.ndarray, answers: Sequence[str], encoder: Encoder) -> Callable[[str], list[str]]:
    """Exact search: the answers by cosine to the question."""
    def rank(q: str) -> list[str]:
        scores = matrix @ encoder.encode([q], query=True)[0]
        return [answers[i] for i in np.argsort(-scores, kind="stable")[:DEPTH]]

    return rank


def _other_model(model: str, key: str, pairs: Sequence[QAPair], path: Path, questions: Sequence[str],
                 gold: Sequence[str], say: Callable[[str], None]) -> dict[str, dict[str, float]]:
    """``dense-<key>`` and ``pressroom-<key>``: the exact search and Press Room's ranking with ``model``."""
    encoder = load_compared(model)
    memo = MemoEncoder(encoder)
    distinct = distinct_answers(pairs)
    say(f"Encoding {counted(len(distinct), 'distinct answer')} with {model}…")
    matrix = memo.encode([p.answer.strip() for p in distinct.values()], progress=True)
    out = {}
    say(f"Asking {counted(len(questions), 'question')}: dense-{key}…")
    out[f"dense-{key}"] = _timed(questions, _dense(matrix, list(distinct), encoder), gold).metrics()
    with tempfile.TemporaryDirectory(prefix="pressroom-bench-") as tmp:
        index = build_index(pairs, Path(tmp) / "index", memo, path)
        try:
            say(f"Asking {counted(len(questions), 'question')}: pressroom-{key}…")
            out[f"pressroom-{key}"] = _timed(questions, _pressroom(Retriever(index, encoder)), gold).metrics()
        finally:
            index.close()
    return out


def _reranked(retriever: Retriever, questions: Sequence[str], gold: Sequence[str],
              weights: dict[str, float | None]) -> dict[str, Run]:
    """Press Room's top RERANK_DEPTH reordered with the cross-encoder, one run per weight (None: by its score alone,
    else fused score + weight × its probability). The cross-encoder reads each question once for all weights, so
    every run gets the same time: search plus cross-encoder."""
    reranker = load_reranker()
    for q in questions[:WARMUP]:
        reranker.logits(q, [h.answer.text for h in retriever.search(q, RERANK_DEPTH)])
    runs = {name: Run() for name in weights}
    for q, g in zip(questions, gold, strict=True):
        start = time.perf_counter()
        hits = retriever.search(q, RERANK_DEPTH)
        fused = np.array([h.score for h in hits])
        prob = reranker.probabilities(strip_framing(q), [h.answer.text for h in hits])
        ms = (time.perf_counter() - start) * 1000
        for name, w in weights.items():
            order = np.lexsort((-fused, -prob)) if w is None else np.argsort(-(fused + w * prob), kind="stable")
            ranked = [normalise(hits[i].answer.text) for i in order[:DEPTH]]
            runs[name].ms.append(ms)
            runs[name].ranks.append(next((i for i, a in enumerate(ranked, 1) if a == g), None))
    return runs


def _steps(tune: Split, index: Index, encoder: Encoder, rerank: bool = False) -> dict[str, dict[str, float]]:
    """Press Room's ranking on the tune split, one step added at a time (each step's effect is the difference);
    with ``rerank``, then the cross-encoder alone and blended at each of BLEND_WEIGHTS."""
    questions = [p.question for p in tune.pairs]
    gold = [normalise(p.answer) for p in tune.pairs]
    off = -math.inf
    variants = {
        "vectors only": Retriever(index, encoder, fusion_weight=0, abstain_below=off, strip=False),
        "+ clean-up": Retriever(index, encoder, fusion_weight=0, abstain_below=off),
        f"+ fusion (w={FUSION_WEIGHT})": Retriever(index, encoder, abstain_below=off),
        f"+ abstention (<{encoder.abstain_below})": Retriever(index, encoder),
    }
    out = {name: _timed(questions, _pressroom(r), gold).metrics() for name, r in variants.items()}
    if rerank:
        weights: dict[str, float | None] = {"+ cross-encoder rerank": None}
        weights.update({f"+ cross-encoder blend (w={w})": w for w in BLEND_WEIGHTS})
        out.update((name, run.metrics()) for name, run in _reranked(Retriever(index, encoder), questions, gold,
                                                                     weights).items())
    return out
