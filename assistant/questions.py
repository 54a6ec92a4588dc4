"""Question clean-up: drop a journalist's courtesies and framing, keep every word about the subject.

"Thank you. My question is about …", "(Similar question from Reuters)" or "Follow-up:" say nothing about what the
answer contains, yet they pull a question's vector towards other questions' framing. Only such framing is
removed; reported facts ("It is reported that X") stay whole. On the benchmark it is neutral (its questions are
long, the framing a small part of them; see `pressroom bench quality … --steps`); it matters more for short
questions, where "Thank you. My question is" is a large share of the words.
"""

from __future__ import annotations

import re

_FLAGS = re.IGNORECASE

# Whole sentences or brackets that are only courtesy or attribution.
_DROP = [
    r"\((?:a\s+)?similar\s+questions?\s+(?:from|was\s+asked\s+by|were\s+asked\s+by)[^)]*\)",
    r"\((?:follow[- ]?up|second\s+question|a\s+follow[- ]?up)[^)]*\)",
    r"\b(?:thank\s+you|thanks)(?:\s+(?:very|so)\s+much)?(?:\s+for\s+taking\s+my\s+questions?)?\s*[.!]",
    r"^\s*(?:thank\s+you|thanks)\s*[,.!]",
    r"\b(?:thank\s+you|thanks)\s*[.!]?\s*$",
]

# Openings that frame the question; what follows them is the content and is kept.
_LEAD = [
    r"(?:i\s+have|i\s+(?:would|'d)\s+like\s+to\s+ask|let\s+me\s+ask)\s+(?:a|one|two|three|several|some)\s+"
    r"(?:follow[- ]?up\s+)?questions?(?:\s+(?:on|about|regarding)\b)?[^.:?]{0,40}?[.:]",
    r"(?:i\s+have\s+)?a\s+follow[- ]?up(?:\s+question)?(?:\s+on\s+(?:that|this)(?:\s+one)?)?\s*[.:,]",
    r"(?:to\s+)?follow(?:ing)?[- ]?up(?:\s+on\s+(?:that|this|the\s+previous\s+question)(?:\s+one)?)?\s*[.:,]",
    r"my\s+(?:first\s+|second\s+|last\s+|next\s+)?question\s+is\s*(?:about|on|regarding)?\s*:?",
    r"(?:the\s+)?(?:first|second|third|next)\s+(?:question|one)\s*(?:is\s*)?[:,]",
    r"(?:good\s+afternoon|good\s+morning|hello|hi)(?:\s*,\s*[A-Z][\w.-]*(?:\s+[A-Z][\w.-]*)?)?\s*[.!,]",
    r"a\s+question\s+(?:on|about|regarding)\s*:?",
]
# Not removed: "It is reported that …", "According to reports, …", "We noted that …". Stripping them too changed
# 173 of 828 benchmark questions and lost 0.002 Recall@1 on the tune split: the framing is harmless to the model.

_DROP_RE = [re.compile(p, _FLAGS) for p in _DROP]
_LEAD_RE = [re.compile(r"(?:^|(?<=[.?!:]\s))\s*" + p, _FLAGS) for p in _LEAD]
# Most questions hold none of it: one scan for any of them spares the thirteen (0.07 -> 0.02 ms a question).
_ANY_RE = re.compile("|".join(f"(?:{p})" for p in _DROP) + "|" + r"(?:^|(?<=[.?!:]\s))\s*(?:"
                     + "|".join(f"(?:{p})" for p in _LEAD) + ")", _FLAGS)


def strip_framing(question: str) -> str:
    """``question`` without courtesies and framing ("Thank you.", "My question is…", "(Similar question from …)").

    Returns the question unchanged when stripping would leave fewer than three words, so a short question such
    as "Thank you for the briefing on trade?" is never emptied.

    Args:
        question: a cleaned question (see ``retrieval.clean_question``).

    Returns:
        The text to search with.
    """
    text = question
    if _ANY_RE.search(question):
        for pattern in _DROP_RE:
            text = pattern.sub(" ", text)
        changed = True
        while changed:  # openings can be stacked: "Thank you. I have a follow-up. My question is …"
            changed = False
            for pattern in _LEAD_RE:
                new = pattern.sub(" ", text, count=1)
                if new != text:
                    text, changed = new, True
    text = re.sub(r"\s+", " ", text).strip(" ,;:")
    return text if len(text.split()) >= 3 else question
