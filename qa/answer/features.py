"""What a question asks for and what a candidate sentence holds, as numbers a fitted model
weighs (:mod:`qa.answer.model`).

A question is profiled once: what kind of answer it asks for — a quantity, a person, a
date, a place — by its question words in the languages people ask in, and its *salient
tokens*: numbers, and words written with a capital (or in capitals) past its first word,
from the question itself and its translation into the collection's language. A candidate
is then described by its cosine with the question, the share of the question's terms it
holds (IDF-weighted, in the collection's language), how many salient tokens it holds, and
whether it holds what the question asks for (a number for "how many", a name for "who",
…). All pure functions of text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Question words by the kind of answer they ask for (lower case; matched as words, or as
# substrings for the scripts written without spaces).
_KINDS: dict[str, tuple[str, ...]] = {
    "number": (
        *("how many", "how much", "how old", "how long", "how far", "what percentage"),
        *("quantos", "quantas", "quanto", "quanta", "cuántos", "cuántas", "cuánto"),
        *("cuanto", "combien", "wie viele", "wie viel", "wieviel", "quanti", "quante"),
        *("cât", "câte", "câți", "сколько", "kaç", "ne kadar", "πόσ", "كم", "多少", "几"),
        *("何人", "いくつ", "いくら", "कितन", "bao nhiêu", "mấy", "เท่าไร", "เท่าไหร่", "กี่"),
    ),
    "person": (
        *("who", "whom", "whose", "quem", "quién", "quiénes", "qui", "wer", "wem", "wen"),
        *("wessen", "chi", "cine", "кто", "кого", "кем", "kim", "ποιος", "ποια", "ποιοι"),
        *("من هو", "من هي", "谁", "誰", "कौन", "ai là", "ใคร"),
    ),
    "date": (
        *("when", "what year", "which year", "what date", "quando", "em que ano", "que ano"),
        *("cuándo", "en qué año", "qué año", "quand", "en quelle année", "wann"),
        *("in welchem jahr", "in che anno", "când", "în ce an", "когда", "в каком году"),
        *("ne zaman", "hangi yıl", "πότε", "متى", "في أي عام", "什么时候", "哪一年", "何时"),
        *("哪年", "いつ", "कब", "khi nào", "năm nào", "bao giờ", "เมื่อไร", "เมื่อใด"),
    ),
    "statement": (
        *("say", "said", "says", "tell", "told", "claim", "claimed", "think", "argue"),
        *("disse", "diz", "dizer", "afirmou", "afirma", "declarou", "falou", "dijo", "dice"),
        *("afirmó", "dit", "a dit", "déclaré", "affirmé", "sagte", "sagt", "gesagt", "meint"),
        *("erklärte", "detto", "a spus", "spune", "сказал", "говорит", "заявил", "dedi"),
        *("söyledi", "είπε", "قال", "يقول", "صرح", "说", "表示", "认为", "言い", "言った"),
        *("述べ", "कहा", "nói", "พูด", "กล่าว"),
    ),
    "place": (
        *("where", "onde", "dónde", "où", "wo", "wohin", "woher", "dove", "unde", "где"),
        *("куда", "nerede", "nereye", "πού", "أين", "哪里", "在哪", "どこ", "कहाँ", "कहां"),
        *("ở đâu", "ที่ไหน"),
    ),
}
KINDS = tuple(_KINDS)
_SPACELESS = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u4e00-\u9fff]")
_NUMBER = re.compile(
    r"\d|\b(?:um|uma|dois|duas|três|quatro|cinco|seis|sete|oito|nove|dez|cem|mil|milhão|"
    r"milhões|bilhão|bilhões|trilhão|dúzia|metade|dobro|triplo|percent|por cento)\b",
    re.IGNORECASE,
)
# Speech: a verb of saying, or a quotation (Portuguese and English sentences).
_SPEECH = re.compile(
    r"[“”\"«»]|\b(?:diss|diz|dizendo|afirm|declar|aleg|explic|coment|argument|enfatiz|"
    r"destac|observ|segundo|de acordo com|acrescent|ressalt|apont|acredit|opin|criti|"
    r"said|says|told|stated|according to|argued|claimed|noted|added|explained)\w*",
    re.IGNORECASE,
)
_DATE = re.compile(
    r"\b(?:1\d{3}|20\d{2})\b|\b(?:janeiro|fevereiro|março|abril|maio|junho|julho|agosto|"
    r"setembro|outubro|novembro|dezembro|século|séculos|segunda-feira|terça-feira|"
    r"quarta-feira|quinta-feira|sexta-feira|sábado|domingo|ontem|hoje|amanhã)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W_]+")
_TOKEN = re.compile(r"[\w][\w.,-]*[\w]|\w")
_ENDS_SENTENCE = (".", "!", "?", ":", '"', "“", "«")
_PUNCTUATION = "\"'“”«»‘’()[]{}.,;:!?¿¡…—–-"


def capitalised(text: str) -> list[str]:
    """Words of ``text`` written with a capital that do not start a sentence, and words in
    capitals (acronyms) anywhere."""
    words = text.split()
    out = []
    for i, word in enumerate(words):
        core = word.strip(_PUNCTUATION)
        if len(core) < 2 or not core[0].isupper():
            continue
        starts = i == 0 or words[i - 1].endswith(_ENDS_SENTENCE)
        if not starts or core.isupper():
            out.append(core)
    return out


@lru_cache(maxsize=8192)  # the same sentences and cues are folded question after question
def fold(text: str) -> str:
    """``text`` case-folded and without accents, for matching names across spellings."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def asks_for(question: str) -> frozenset[str]:
    """The kinds of answer ``question`` asks for (``number``, ``person``, ``date``,
    ``place``, ``statement``: what someone said), by its question words."""
    text = f" {fold(question)} "
    words = " " + " ".join(_WORD.findall(text)) + " "
    found = set()
    for kind, cues in _KINDS.items():
        for cue in map(fold, cues):
            if (cue in text) if _SPACELESS.search(cue) else (f" {cue} " in words):
                found.add(kind)
                break
    return frozenset(found)


def salient_tokens(*texts: str | None) -> frozenset[str]:
    """Numbers and capitalised words (past the first word) of ``texts``, folded: the
    specific things a question names."""
    out: set[str] = set()
    for text in texts:
        if not text:
            continue
        for token in _TOKEN.findall(text):
            if any(c.isdigit() for c in token):
                out.add(fold(token.strip(".,")))
        out.update(fold(word) for word in capitalised(text))
    return frozenset(t for t in out if t)


def has_number(text: str) -> bool:
    return bool(_NUMBER.search(text))


def has_date(text: str) -> bool:
    return bool(_DATE.search(text))


def has_name(text: str) -> bool:
    """Whether ``text`` holds a capitalised word that does not start a sentence."""
    return bool(capitalised(text))


@dataclass(frozen=True)
class QuestionProfile:
    """What a question asks for and names (see the module docstring)."""

    kinds: frozenset[str]
    salient: frozenset[str]
    terms: int  # how many of its terms the collection's language has
    language_group: str  # "translated", "related", "companion" or "other"


def holds(kind: str, text: str) -> bool:
    """Whether ``text`` holds what a question of ``kind`` asks for."""
    if kind == "number":
        return has_number(text)
    if kind == "date":
        return has_date(text)
    if kind == "statement":
        return bool(_SPEECH.search(text))
    return has_name(text)  # a person or a place


def salient_share(profile: QuestionProfile, text: str) -> float:
    """The share of the question's salient tokens ``text`` holds (1 when it names none)."""
    if not profile.salient:
        return 1.0
    folded = fold(text)
    return sum(token in folded for token in profile.salient) / len(profile.salient)


def kind_match(profile: QuestionProfile, text: str) -> tuple[float, float]:
    """Whether ``text`` holds what the question asks for (1/0), and whether it lacks it
    (1/0); both 0 for a question of no known kind."""
    if not profile.kinds:
        return 0.0, 0.0
    held = any(holds(kind, text) for kind in profile.kinds)
    return float(held), float(not held)
