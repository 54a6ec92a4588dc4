"""Chinese questions as English keywords: the real jieba and CC-CEDICT, and the weighted BM25 query they make."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from embeddings.chinese import english_keywords, is_chinese
from embeddings.keywords import KeywordIndex, tokenize

from .conftest import ROOT


def test_chinese_is_told_by_its_script() -> None:
    assert is_chinese("菲律宾对中方有何指责？")
    assert is_chinese("美国在WTO起诉中国，中方有何回应？")  # Latin letters quoted in a Chinese question
    assert not is_chinese("What did Wang Yi say about 一带一路 yesterday in Beijing?")  # a Chinese phrase quoted
    assert not is_chinese("How will Shanghai lead the Yangtze River Delta?")
    assert not is_chinese("2024?")


def test_words_become_stemmed_english_glosses() -> None:
    terms = english_keywords("菲律宾")
    assert terms == {tokenize(["Philippines"])[0][0]: 1.0}
    # a proper name keeps its capitalised words: the ministry, not "foreign office"'s lower-case words
    assert set(tokenize(["Ministry of Foreign Affairs"])[0]) <= set(english_keywords("外交部"))
    # one unit of weight spread over a word's glosses (关税: customs duty / tariff)
    duty = english_keywords("关税")
    assert duty[tokenize(["tariff"])[0][0]] == pytest.approx(0.5) and max(duty.values()) <= 1
    # a word said twice counts twice, as an English query's repeated word does
    assert english_keywords("关税关税")[tokenize(["tariff"])[0][0]] == pytest.approx(1.0)


def test_grammar_words_and_dictionary_notes_are_dropped() -> None:
    assert english_keywords("你对此有何？") == {}  # pronoun, adverb, punctuation
    terms = english_keywords("措施")  # CC-CEDICT: measure / step / CL:個|个[ge4]
    assert set(terms) == set(tokenize(["measure step"])[0])
    assert all(t.isascii() for t in english_keywords("中方对台湾问题有何评论？"))


def test_names_and_unknown_words() -> None:
    # a person the dictionary lacks is its pinyin, as English answers spell Chinese names
    assert {"shi", "ping"} <= set(english_keywords("日本参议员石平"))
    # a word jieba knows and the dictionary lacks is read as its dictionary words: 核 污染 水
    assert {"nuclear", "pollut", "water"} <= set(english_keywords("核污染水"))
    # Latin words and numbers in the question count as themselves
    assert {"wto", "145"} <= set(english_keywords("美国在WTO对中国加征145%关税"))


def test_weighted_query_matches_the_plain_query() -> None:
    """The weighted entry point with each word's count as its weight is the plain BM25 query (the oracle)."""
    texts = ["The Philippines stirred up trouble in the South China Sea.", "Tariffs harm both sides.",
             "China firmly opposes the tariffs and the sanctions.", "We welcome foreign investment."]
    index = KeywordIndex.build(texts)
    for question in ("Will China respond to the tariffs and sanctions?", "South China Sea", "unknown words"):
        plain = index.scores(question)
        weighted = index.weighted_scores(Counter(tokenize([question])[0]))
        assert np.allclose(plain, weighted) and weighted.dtype == np.float32
    tariff = tokenize(["tariffs"])[0][0]
    assert np.allclose(index.weighted_scores({tariff: 0.25}), 0.25 * index.weighted_scores({tariff: 1.0}))
    assert index.weighted_scores({tariff: 1.0})[1] > 0 and index.weighted_scores({tariff: 1.0})[0] == 0
    assert not index.weighted_scores({}).any() and not KeywordIndex.build([]).weighted_scores({tariff: 1}).any()


def test_jieba_writes_and_reads_no_cache_file(tmp_path: Path) -> None:
    """jieba's own start-up writes its prefix dictionary into the system temp folder with marshal and reads it from
    there next time; Press Room builds it in memory, writes nothing, and prints nothing (and fetches nothing: both
    dictionaries ship inside their packages)."""
    cache, temp = tmp_path / "cache", tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "PRESSROOM_CACHE": str(cache), "TMPDIR": str(temp), "HF_HUB_OFFLINE": "1"}
    code = "from embeddings.chinese import english_keywords as e; print(sorted(e('菲律宾')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['philippin']"
    assert not list(temp.iterdir()) and not cache.exists()
    assert "prefix dict" not in result.stderr  # jieba's start-up chatter stays out of the user's terminal
