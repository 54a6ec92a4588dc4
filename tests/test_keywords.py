"""Pruned BM25 (MaxScore) against the plain computation: the same keys, the same scores, the same ties."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import embeddings.keywords as keywords
from assistant.bench_speed import _sized_index
from assistant.retrieval import CANDIDATES_PER_ANSWER, Retriever
from embeddings.index import Index
from embeddings.ingest import ingest
from embeddings.keywords import KeywordIndex, KeywordQuery, best, tokenize
from embeddings.store import AnswerFilter

from .conftest import FakeEncoder

# Common words (in most keys), middling ones and rare ones, so that questions mix long and short postings.
COMMON = ["china", "government", "development", "cooperation", "countries"]
MIDDLE = ["trade", "taiwan", "typhoon", "vaccine", "export", "climate", "security", "border", "maritime"]
RARE = [f"rare{i}word" for i in range(300)]


def synthetic_texts(count: int, seed: int) -> list[str]:
    """Texts whose words follow a long-tailed law; every fifth text repeats an earlier one (ties in BM25)."""
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    for i in range(count):
        if i >= 5 and i % 5 == 0:
            texts.append(texts[int(rng.integers(0, i))])
            continue
        words = list(rng.choice(COMMON, int(rng.integers(1, 4))))
        words += list(rng.choice(MIDDLE, int(rng.integers(0, 3))))
        words += list(rng.choice(RARE, int(rng.integers(0, 3)), p=_zipf(len(RARE))))
        texts.append(" ".join(rng.permutation(words)))
    return texts


def _zipf(n: int) -> np.ndarray:
    weights = 1 / np.arange(1, n + 1)
    return weights / weights.sum()


def plain_top(index: KeywordIndex, question: str, n: int, among: np.ndarray | None = None) -> tuple[np.ndarray,
                                                                                                     np.ndarray]:
    """The reference: every key scored, the positive ones among ``among``, the n best (ties: lowest first)."""
    return best_of(index.scores(question), n, among)


def best_of(scores: np.ndarray, n: int, among: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(len(scores)) if among is None else among
    positive = rows[scores[rows] > 0]
    return best(positive, scores[positive], n)


QUESTIONS = ["china trade", "Did China's government discuss trade and the typhoon?", "rare0word china china",
             "rare3word rare17word development cooperation countries", "taiwan", "zebra", "export export vaccine",
             "maritime security border climate china government", "rare250word countries"]


@pytest.fixture(scope="module")
def index() -> KeywordIndex:
    return KeywordIndex.build(synthetic_texts(3_000, seed=7))


@pytest.fixture(autouse=True, params=["pruned", "budget", "capped", "summed"])
def pruning(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run each test four ways: pruned whatever it costs, pruned within PRUNE_SHARE and LOOKUP_COST (as in indexes
    of PRUNE_FROM keys and more: it gives up on some questions), giving up before every lookup (LOOKUP_COST), and
    every posting summed."""
    monkeypatch.setattr(keywords, "PRUNE_FROM", 10**12 if request.param == "summed" else 0)
    if request.param in ("pruned", "capped"):
        monkeypatch.setattr(keywords, "PRUNE_SHARE", 1.0)
        monkeypatch.setattr(keywords, "LOOKUP_COST", 0 if request.param == "pruned" else 10**12)
    return request.param


@pytest.mark.parametrize("n", [1, 8, 40, 400, 5_000])
@pytest.mark.parametrize("question", QUESTIONS)
def test_top_equals_scoring_every_key(index: KeywordIndex, question: str, n: int) -> None:
    among = np.sort(np.random.default_rng(n).choice(index.count, 700, replace=False))
    for admitted in (None, among):
        query = index.query(question)
        found, scores = query.top(n, admitted)
        expected, expected_scores = plain_top(index, question, n, admitted)
        np.testing.assert_array_equal(found, expected)
        np.testing.assert_array_equal(scores, expected_scores)  # bit for bit, not approximately
        # Then any key's score, those top() found and the others (as fusion asks), in any order
        positions = np.random.default_rng(n).permutation(index.count)
        np.testing.assert_array_equal(query.at(positions), index.scores(question)[positions])


@pytest.mark.parametrize("question", QUESTIONS)
def test_scores_at_any_key_equal_scoring_every_key(index: KeywordIndex, question: str) -> None:
    positions = np.random.default_rng(1).choice(index.count, 500, replace=False)
    np.testing.assert_array_equal(index.query(question).at(positions), index.scores(question)[positions])
    every = np.arange(index.count)  # all of them, in order: each block and each word's first and last posting
    np.testing.assert_array_equal(index.query(question).at(every), index.scores(question))


def test_common_words_are_only_looked_up(index: KeywordIndex, pruning: str, monkeypatch: pytest.MonkeyPatch) -> None:
    looked_up: list[int] = []
    real = keywords._lookup
    monkeypatch.setattr(keywords, "_lookup", lambda query, positions, words: looked_up.append(len(positions))
                        or real(query, positions, words))
    question = "rare3word rare17word development cooperation countries"
    query = index.query(question)
    found = query.top(8)
    assert len(query.words) == 5 and [len(w.keys) for w in query.words] == sorted(len(w.keys) for w in query.words)
    # Pruned: no sum of every posting; a few keys (the seeds, then the candidates) were scored by lookups, far
    # fewer than hold a common word.
    if pruning == "pruned":
        assert query.every is None and 0 < sum(looked_up) < len(query.words[-1].keys)
    if pruning in ("capped", "summed"):  # gave up (as "budget" does on this small index: lookups cost more)
        assert query.every is not None
    np.testing.assert_array_equal(found[0], plain_top(index, question, 8)[0])


@pytest.mark.parametrize("count", [1, 15, 16, 17, 700, 5_000])
def test_block_maxima_bound_every_posting(count: int) -> None:
    """Each word's block maximum is the highest of its scores in that block, for blocks of any fill."""
    built = KeywordIndex.build(synthetic_texts(count, seed=count))
    blocks, indptr = built._blocks, built._indptr
    for w in range(len(indptr) - 1):
        keys, scores = built._indices[indptr[w] : indptr[w + 1]], built._data[indptr[w] : indptr[w + 1]]
        entries = slice(blocks.first[w], blocks.first[w + 1])
        assert blocks.block[entries].tolist() == sorted(set((keys >> blocks.shift).tolist()))
        for block, start, end, top in zip(blocks.block[entries], blocks.start[entries],
                                          blocks.start[entries.start + 1 : entries.stop + 1], blocks.maxima[entries],
                                          strict=True):
            assert set((built._indices[start:end] >> blocks.shift).tolist()) == {block}
            assert top == scores[(keys >> blocks.shift) == block].max()


def test_ties_go_to_the_lowest_positions() -> None:
    positions = np.array([2, 5, 7, 9, 11])
    scores = np.array([1.0, 3.0, 2.0, 2.0, 2.0], dtype=np.float32)
    found, kept = best(positions, scores, 3)
    assert found.tolist() == [5, 7, 9] and kept.tolist() == [3.0, 2.0, 2.0]
    assert best(positions, scores, 9)[0].tolist() == positions.tolist()


def test_an_empty_question_or_index_has_no_keyword_candidates(index: KeywordIndex) -> None:
    assert len(index.query("the of and").top(40)[0]) == 0
    empty = KeywordIndex.build([])
    assert len(empty.query("china").top(40)[0]) == 0 and len(empty.scores("china")) == 0


class PlainQuery(KeywordQuery):
    """The plain computation behind the same interface: every key scored up front, the array indexed."""

    def __init__(self, query: KeywordQuery) -> None:
        super().__init__(query.words, query.count, query.blocks, query.indices, query.data, query.scores())

    def top(self, n: int, among: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        assert self.every is not None
        return best_of(self.every, n, among)


def test_retriever_fast_path_equals_the_plain_computation(corpus: Path, tmp_path: Path, fake_encoder: FakeEncoder,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake-encoder index of copied keys (many exact BM25 ties): every hit, score and matched paragraph equal."""
    ingest([corpus], tmp_path / "real", fake_encoder)
    real = Index.open(tmp_path / "real")
    base = real.store.key_vectors(fake_encoder.dim)
    real.close()
    _sized_index(tmp_path / "real", tmp_path / "big", len(base) * 40, base)
    index = Index.open(tmp_path / "big", model=fake_encoder.name)
    retriever = Retriever(index, fake_encoder, abstain_below=-1.0)
    questions = ["How will Shanghai lead the Yangtze River Delta?", "What about sci-tech innovation and finance?",
                 "Gu Jun on the free trade zone", "international shipping center plans", "zebra crossing"]
    speaker = retriever.speakers[0].split()[-1]
    runs = [(q, k, where) for q in questions for k in (1, 5, 20)
            for where in (None, AnswerFilter(speaker=speaker))]
    fast = [retriever.search(q, k, where) for q, k, where in runs]
    plain_words = index.keywords
    monkeypatch.setattr(plain_words, "query", lambda question: PlainQuery(KeywordIndex.query(plain_words, question)))
    plain = [retriever.search(q, k, where) for q, k, where in runs]
    assert any(fast) and fast == plain
    assert index.keywords.count > 20 * CANDIDATES_PER_ANSWER  # large enough that candidates are a real choice


def test_question_tokens_equal_bm25s_tokenize(index: KeywordIndex) -> None:
    """The question side skips bm25s.tokenize's set-up; its tokens must stay the ones the index was built with."""
    lines = (Path(__file__).parent / "data" / "rewordings.tsv").read_text("utf-8").splitlines()
    texts = [line.split("\t", 1)[-1] for line in lines] + [
        "Ça va? Naïve CAFÉ-owners' e-mails, U.S. 2024 don't", "", "   ", "a I x", "Über straße İstanbul ΣΊΣΥΦΟΣ",
        "running runs ran runner's", "The the THE and 123 4 5th", "tab\tnew\nline", "中国 外交部 spokesperson"]
    assert [index._tokens(t) for t in texts] == tokenize(texts)


@pytest.mark.parametrize("n", [1, 8, 40, 400])
def test_weighted_top_equals_summing_weighted_postings(index: KeywordIndex, n: int) -> None:
    """A Chinese question's English glosses come with weights: the pruned top n equals bm25s' scores × weight
    (float32 products, as embeddings.chinese's queries were scored) summed over every posting."""
    terms = {tokenize([word])[0][0]: weight for word, weight in
             [("rare3word", 0.5), ("rare17word", 1.0), ("development", 0.3), ("cooperation", 1.7),
              ("countries", 2.0), ("taiwan", 0.25)]}
    matrix = index._bm25.scores  # type: ignore[attr-defined]
    vocabulary = index._bm25.vocab_dict  # type: ignore[attr-defined]
    spans = [(slice(matrix["indptr"][vocabulary[t]], matrix["indptr"][vocabulary[t] + 1]), w) for t, w in terms.items()]
    reference = np.bincount(np.concatenate([matrix["indices"][s] for s, _ in spans]),
                            np.concatenate([matrix["data"][s] * w if w != 1 else matrix["data"][s] for s, w in spans]),
                            minlength=index.count).astype(np.float32)
    np.testing.assert_array_equal(index.weighted_scores(terms), reference)
    np.testing.assert_array_equal(index.weighted_query(terms).at(np.arange(index.count)), reference)
    found, scores = index.weighted_query(terms).top(n)
    expected, expected_scores = best_of(reference, n)
    np.testing.assert_array_equal(found, expected)
    np.testing.assert_array_equal(scores, expected_scores)
