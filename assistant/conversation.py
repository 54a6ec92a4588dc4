"""What to search for, given the question and the conversation so far: follow-ups, speakers and periods named in text.

A chat question is often not a whole question: "and who is responsible for that?" means nothing without the
previous one, and "what did Gu Jun say about the free trade zone?" is a search for "the free trade zone" among
Gu Jun's answers; "China's position on the South China Sea in 2023" is a search for "China's position on the South
China Sea" among the answers of 2023. This module turns (question, earlier questions, known speakers) into a
`Query`: the text to search, the speaker and the period named in it, and whether the previous topic was folded in.
No model, no state: the same conversation always gives the same query (on the same day: a period still to come is
no filter), so the chat, the API and the CLI agree.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

MAX_TOPIC_CHARS = 1000  # of the earlier question folded into a follow-up
FOLLOW_UP_MAX_WORDS = 9  # longer questions that merely mention "this" or "it" stand on their own
# A period in a longer question is the journalist's context, not a filter: in the Q&A benchmark's 828 questions the 7
# that name one have 54-83 words ("reclamation efforts of Viet Nam, which started in 2021. Does the Foreign Ministry
# …?"), and 3 were answered outside the period named; a question pasted from a transcript must find its answer.
PERIOD_MAX_WORDS = 25

# "and …", "what about …", "how about …" open a follow-up; the connector itself carries no topic.
_CONNECTOR = re.compile(r"^\s*(?:and what about|and how about|what about|how about|and|also|but|so|then)\b[\s,]*",
                        re.IGNORECASE)
# Words that point back to the earlier topic.
_ANAPHOR = re.compile(r"\b(?:that|this|it|its|they|them|their|those|these|there|the same|he|she|him|her)\b",
                      re.IGNORECASE)
# "what did Gu Jun say about …", "what has Ms. Xu said on …", "how did Lyu Wei answer …"
_SPEAKER_ASK = re.compile(
    r"^\s*(?:and\s+)?(?:what|how)\s+(?:did|does|do|has|have)\s+(?P<name>[^?]{2,60}?)\s+"
    r"(?:say|said|tell us|think|answer|mention|announce)(?:ed)?\b\s*(?:about|on|regarding|of|to)?\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
_HONORIFIC = re.compile(r"^(?:mr|mrs|ms|miss|dr|madam|minister|director|vice minister|spokesperson)\.?\s+",
                        re.IGNORECASE)
_WORD = re.compile(r"\w+")

# A period is read only where it names a year after a preposition ("in April 2025", "since March 2024", "between
# 2022 and 2023", "from January to March 2024"): a bare "on November 7" is the journalist's context, and a number
# like the 145 of "145% tariffs" or a year without a preposition ("the 2025 tariffs") is no filter.
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?" \
         r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?"
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_YEAR = r"(?<![\d.,$-])(?:19|20)\d{2}(?![\d%]|[.,-]\d|\s*(?:%|per\s?cent))"
_POINT = rf"(?:(?:{_DAY}\s+)?{_MONTH}(?:\s+{_DAY})?,?\s+)?{_YEAR}"  # "17 April 2025", "Apr. 2025", "2023"
_START = rf"(?:(?:{_DAY}\s+)?{_MONTH}(?:\s+{_DAY})?(?:,?\s+{_YEAR})?|{_YEAR})"  # "January" of "January to March 2024"
_PERIOD = re.compile(
    rf"\b(?:(?:between|from)\s+(?P<start>{_START})\s+(?:and|to|until|till|through)\s+(?P<end>{_POINT})"
    rf"|(?P<prep>in|during|throughout|on|since|from|after|before|until|till|through)\s+(?:the\s+year\s+)?"
    rf"(?P<at>{_POINT}))\b[.,]?",
    re.IGNORECASE,
)
_PARTS = re.compile(rf"(?:(?P<d1>{_DAY})\s+)?(?P<month>{_MONTH})?(?:\s+(?P<d2>{_DAY}))?,?\s*(?P<year>{_YEAR})?",
                    re.IGNORECASE)

Period = tuple[date | None, date | None]  # (since, until), inclusive; None: unbounded on that side


def named_period(question: str, today: date | None = None) -> tuple[Period | None, str]:
    """(the period the question names, the question without it); (None, question) when it names none.

    A period that starts after ``today`` names a target ("carbon neutrality in 2060"), not when something was
    said, and is left in the question; so is an impossible day (30 February 2025), and any period in a question of
    more than ``PERIOD_MAX_WORDS`` words.
    """
    if len(_words(question)) > PERIOD_MAX_WORDS:
        return None, question
    for m in _PERIOD.finditer(question):
        try:
            if m.group("at"):
                first, last = _span(m.group("at"))
                prep = m.group("prep").lower()
                period: Period = {"since": (first, None), "from": (first, None), "after": (last + timedelta(1), None),
                                  "before": (None, first - timedelta(1)), "until": (None, last),
                                  "till": (None, last), "through": (None, last)}.get(prep, (first, last))
            else:
                end_first, end_last = _span(m.group("end"))
                start = _span(m.group("start"), end_first.year)[0]
                if start > end_last:  # "from December to March 2024": which December is a guess
                    continue
                period = (start, end_last)
        except ValueError:
            continue
        if period[0] is not None and period[0] > (today or date.today()):
            continue
        rest = f"{question[:m.start()]} {question[m.end():]}"
        rest = re.sub(r"\s+([?.!,;:])", r"\1", re.sub(r"\s+", " ", rest)).strip(" ,;:")
        return period, rest
    return None, question


def _span(point: str, year: int | None = None) -> tuple[date, date]:
    """The first and last day of "17 April 2025", "April 2025" or "2025"; ``year`` when the point names none."""
    parts = _PARTS.fullmatch(point.strip())
    assert parts, point  # _PERIOD matched it
    year = int(parts.group("year")) if parts.group("year") else year
    if year is None:
        raise ValueError(f"no year in {point!r}")
    if not parts.group("month"):
        return date(year, 1, 1), date(year, 12, 31)
    month = _MONTHS.index(parts.group("month")[:3].lower()) + 1
    day = parts.group("d1") or parts.group("d2")
    if day:
        one = date(year, month, int(re.sub(r"\D", "", day)))
        return one, one
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


@dataclass(frozen=True)
class Query:
    """What is actually searched for one chat question."""

    text: str  # the text given to retrieval
    speaker: str | None = None  # an official named in the question ("what did Gu Jun say …")
    follow_up: bool = False  # the earlier topic was folded in
    # The speaker is the one an earlier question named ("What did Mao Ning say about X?" then "and what about Y?"):
    # a speaker the user picks in the filters since then wins over it.
    speaker_from_earlier: bool = False
    period: Period | None = None  # (since, until) named in the question ("in April 2025") or, likewise, earlier
    period_from_earlier: bool = False

    def differs_from(self, question: str) -> bool:
        return self.follow_up or self.speaker is not None or self.period is not None or self.text != question


def understand(question: str, earlier: Sequence[str] = (), speakers: Sequence[str] = (),
               today: date | None = None) -> Query:
    """The query for ``question`` after the ``earlier`` questions of the conversation (oldest first).

    Args:
        question: the cleaned question.
        earlier: the user's earlier questions in this conversation, oldest first.
        speakers: names of the officials in the index, to recognise "what did <name> say about …".
        today: periods starting later name targets, not filters (default: today).

    Returns:
        The text to search, the speaker and the period named in the question (or kept from an earlier one by a
        follow-up) and whether the earlier topic was folded in.
    """
    topic, before_query = None, Query("")
    for before in earlier:
        topic, before_query = _step(before, topic, before_query, speakers, today)
    return _step(question, topic, before_query, speakers, today)[1]


def _step(question: str, topic: str | None, before: Query, speakers: Sequence[str],
          today: date | None) -> tuple[str | None, Query]:
    """(the conversation's topic after ``question``, the query for ``question``); a follow-up that names nobody
    keeps ``before``'s speaker, the official the conversation was about, and one that names no period its period."""
    typed = question
    period, question = named_period(question, today)
    speaker, rest = _named_speaker(question, speakers)
    if speaker is not None and _words(rest) and not _is_follow_up(rest):
        return rest, Query(rest, speaker, period=period)
    if topic and (speaker is not None or _is_follow_up(question)):
        own = _CONNECTOR.sub("", rest if speaker is not None else question).strip()
        own = own if _words(own) else ""  # "and in 2024?": the topic alone, in another period
        text = f"{topic[:MAX_TOPIC_CHARS]} {own}".strip()
        return topic, Query(text, speaker or before.speaker, follow_up=True,
                            speaker_from_earlier=speaker is None and before.speaker is not None,
                            period=period or before.period,
                            period_from_earlier=period is None and before.period is not None)
    if speaker is not None and _words(rest):
        return rest, Query(rest, speaker, period=period)
    if not _words(question):  # "in 2023?" alone: nothing else to search for
        return None, Query(typed, period=period)
    return question, Query(question, period=period)


def _is_follow_up(question: str) -> bool:
    if _CONNECTOR.match(question):
        return True
    return len(_words(question)) <= FOLLOW_UP_MAX_WORDS and bool(_ANAPHOR.search(question))


def _named_speaker(question: str, speakers: Sequence[str]) -> tuple[str | None, str]:
    """(the canonical name of the official the question asks about, the rest of the question).

    A name with a title ("Mr. Zhang") that no official in the index carries is returned as typed.
    """
    m = _SPEAKER_ASK.match(question)
    if not m:
        return None, question
    said = m.group("name").strip()
    typed = _HONORIFIC.sub("", said)
    name = typed.lower()
    rest = m.group("rest").strip(" ?.!")
    exact = [speaker for speaker in speakers if speaker.lower() == name]
    partial = [speaker for speaker in speakers if len(name) > 1 and name in speaker.lower().split()]
    if exact or len(partial) == 1:
        return (exact or partial)[0], rest
    if partial:  # "What did Li say": two officials named Li, so the filter (whole words of a name) keeps both
        return typed, rest
    if typed != said and _words(typed):  # "Mr. Zhang", not an official here: searching everyone's answers would
        return typed, rest  # pass another official's words off as his; his filter finds none, which is the truth
    return None, question


def _words(text: str) -> list[str]:
    return _WORD.findall(text)
