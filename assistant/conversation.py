"""What to search for, given the question and the conversation so far: follow-ups and speakers named in text.

A chat question is often not a whole question: "and who is responsible for that?" means nothing without the
previous one, and "what did Gu Jun say about the free trade zone?" is a search for "the free trade zone" among
Gu Jun's answers. This module turns (question, earlier questions, known speakers) into a `Query`: the text to
search, the speaker named in it, and whether the previous topic was folded in. No model, no state: the same
conversation always gives the same query, so the chat, the API and the CLI agree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_TOPIC_CHARS = 1000  # of the earlier question folded into a follow-up
FOLLOW_UP_MAX_WORDS = 9  # longer questions that merely mention "this" or "it" stand on their own

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


@dataclass(frozen=True)
class Query:
    """What is actually searched for one chat question."""

    text: str  # the text given to retrieval
    speaker: str | None = None  # an official named in the question ("what did Gu Jun say …")
    follow_up: bool = False  # the earlier topic was folded in
    # The speaker is the one an earlier question named ("What did Mao Ning say about X?" then "and what about Y?"):
    # a speaker the user picks in the filters since then wins over it.
    speaker_from_earlier: bool = False

    def differs_from(self, question: str) -> bool:
        return self.follow_up or self.speaker is not None or self.text != question


def understand(question: str, earlier: Sequence[str] = (), speakers: Sequence[str] = ()) -> Query:
    """The query for ``question`` after the ``earlier`` questions of the conversation (oldest first).

    Args:
        question: the cleaned question.
        earlier: the user's earlier questions in this conversation, oldest first.
        speakers: names of the officials in the index, to recognise "what did <name> say about …".

    Returns:
        The text to search, the speaker named in the question (canonical spelling) and whether the
        earlier topic was folded in.
    """
    topic, earlier_speaker = None, None
    for before in earlier:
        topic, query = _step(before, topic, earlier_speaker, speakers)
        earlier_speaker = query.speaker
    _, query = _step(question, topic, earlier_speaker, speakers)
    return query


def _step(question: str, topic: str | None, earlier_speaker: str | None,
          speakers: Sequence[str]) -> tuple[str | None, Query]:
    """(the conversation's topic after ``question``, the query for ``question``); a follow-up that names nobody
    keeps ``earlier_speaker``, the official the conversation was about."""
    speaker, rest = _named_speaker(question, speakers)
    if speaker is not None and _words(rest) and not _is_follow_up(rest):
        return rest, Query(rest, speaker)
    if topic and (speaker is not None or _is_follow_up(question)):
        own = _CONNECTOR.sub("", rest if speaker is not None else question).strip()
        text = f"{topic[:MAX_TOPIC_CHARS]} {own}".strip()
        return topic, Query(text, speaker or earlier_speaker, follow_up=True,
                            speaker_from_earlier=speaker is None and earlier_speaker is not None)
    if speaker is not None and _words(rest):
        return rest, Query(rest, speaker)
    return question, Query(question)


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
