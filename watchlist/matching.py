"""Explainable matching of a person against a watchlist entry: names in any script, then
birth date, nationality and travel documents.

A name is read once (cached per distinct string): person prefixes dropped
(rigour), each word transliterated to lower-case ASCII (rigour's spellings for
Cyrillic, Greek and the other alphabets it admits, ICU through normality for
Arabic, Han, Hebrew, kana, ...), repeated words kept once. Two names are
aligned word to word, each word used at most once, in any order; a pair of
words is as close as the best of: the same word, a close spelling within an
edit budget that grows with the word's length (so "john"/"juan" is not
close but "sukarno"/"soekarno" is), the same metaphone code (rigour; a code
of one or two letters says little, so it counts little), an initial that
fits, and, when one name is written in an abjad (Arabic, Hebrew), the same
consonant skeleton. Unpaired words count against the match: a word on each
side that pairs with nothing is a contradiction (weight 1), a word that only
one side has is a missing part (weight 0.5). Names compared across scripts
whose romanisation is lossy (abjads, Han, kana, Hangul) are discounted.

``score_party`` starts from the best name pair and adds or removes the other
features; every feature's contribution is listed, and the contributions add
up to the score exactly. A name below ``NAME_FLOOR`` is never lifted to a
match by dates or nationality: a ``name_floor`` feature removes what they
added. Only an exact document number can carry a weaker name over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from rapidfuzz.distance import Levenshtein
from rigour.names import remove_person_prefixes, tokenize_name
from rigour.text import ascii_text, metaphone
from rigour.text.scripts import text_scripts

from watchlist.documents import normalize_document_number

DEFAULT_THRESHOLD = 0.7
# Below this name score, dates and nationality cannot make a match.
NAME_FLOOR = 0.6

# Scripts whose romanisation drops vowels or sounds: a comparison across them is
# less certain than one between two Latin spellings.
_LOSSY_SCRIPTS = frozenset(
    {"Arabic", "Hebrew", "Syriac", "Thaana", "Han", "Hiragana", "Katakana", "Hangul", "Thai"}
)
_ABJADS = frozenset({"Arabic", "Hebrew", "Syriac", "Thaana"})
_HAN = frozenset({"Han"})
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
# Apostrophes and the marks ICU leaves for ayn and hamza join, they do not split.
_JOINING = re.compile(r"['`?\u2019\u02bb\u02bc\u02be\u02bf]")
_SKELETON_DROP = re.compile(r"[aeiouyw]+")
_SKELETON_SOUNDS = str.maketrans({"p": "b", "v": "f", "c": "k", "q": "k", "g": "j", "x": "k"})
_REPEATS = re.compile(r"(.)\1+")
# Particles of Arabic, Dutch, German, Romance names: spelt many ways, worth little alone.
_PARTICLE_SPELLINGS = {"ibn": "bin", "ben": "bin", "bn": "bin", "el": "al", "ul": "al"}
_PARTICLES = frozenset({"al", "bin", "bint", "abu", "van", "von", "der", "de", "da", "di", "du"})
_PARTICLE_WEIGHT = 0.3

# What a pair of words is worth, by the kind of evidence.
_INITIAL = 0.6
_PHONETIC_BY_CODE_LENGTH = (0.0, 0.0, 0.3, 0.7)  # index = code length; 4 and more: 0.85
_PHONETIC_LONG = 0.85
_SKELETON_BY_LENGTH = (0.0, 0.7, 0.8)  # index = skeleton length; 3 and more: 0.9
_SKELETON_LONG = 0.9
_PAIRED = 0.3  # a pair of words below this is not a pairing
_CONTRADICTION = 2.0  # a word on each side that pairs with nothing
_MISSING_PART = 0.35  # a word only one side has, when two or more words pair
_MISSING_PART_ALONE = 0.6  # ... when a single word pairs ("Ali" against "Ali Hassan")
_LOSSY_DISCOUNT = 0.9
_INITIALS_ONLY_CAP = 0.5

# score_party's features.
_BIRTH_DATE_SAME = 0.05
_BIRTH_DATE_DIFFERENT = 0.15
_BIRTH_YEAR_SAME = 0.03
_BIRTH_YEAR_DIFFERENT = 0.10
_NATIONALITY_MISMATCH = 0.10
_DOCUMENT_NUMBER = 0.35


@dataclass(frozen=True)
class Party:
    """A person as screening compares them: names first, then what else is known."""

    names: tuple[str, ...]  # primary name first, then aliases; any script
    birth_date: date | None = None
    birth_year: int | None = None  # when only the year is known
    nationality: str | None = None  # ISO 3166-1 alpha-3 / ICAO code, upper-case
    documents: tuple[str, ...] = ()  # raw document numbers


@dataclass(frozen=True)
class Feature:
    """One piece of evidence: ``value`` in [0, 1] is how strongly it holds, ``weight`` what
    it is worth at full strength (negative for evidence against), ``contribution`` what it
    added to or removed from the score."""

    name: str
    value: float
    weight: float
    contribution: float
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": round(self.value, 4),
            "weight": self.weight,
            "contribution": round(self.contribution, 4),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class MatchResult:
    """A score in [0, 1], the decision at a threshold, and the features that make it up."""

    score: float
    match: bool
    features: tuple[Feature, ...]
    query_name: str
    matched_name: str

    def explanation(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 4),
            "match": self.match,
            "query_name": self.query_name,
            "matched_name": self.matched_name,
            "features": [feature.as_dict() for feature in self.features],
        }


@dataclass(frozen=True, slots=True)
class _Word:
    text: str  # lower-case ASCII
    phonetic: str
    skeleton: str
    initial: bool
    weight: float


@dataclass(frozen=True, slots=True)
class _Name:
    words: tuple[_Word, ...]
    scripts: frozenset[str]
    lossy: bool
    abjad: bool


def _skeleton(text: str) -> str:
    """The consonants, as an abjad writes them: vowels, doubled letters and a final h gone."""
    consonants = _SKELETON_DROP.sub("", text.replace("gh", "g").translate(_SKELETON_SOUNDS))
    return _REPEATS.sub(r"\1", consonants).removesuffix("h")


def _romanised_parts(token: str, han: bool) -> list[str]:
    ascii_form = _JOINING.sub("", ascii_text(token).lower())
    parts = [part for part in _NON_ALNUM.split(ascii_form) if part]
    if han and len(parts) > 1:
        if len(parts) <= 3:
            # A Chinese name: the family name's syllable, then the given name's.
            return [parts[0], "".join(parts[1:])]
        return ["".join(parts)]
    return parts


@lru_cache(maxsize=65536)
def _read_name(name: str) -> _Name:
    scripts = frozenset(text_scripts(name))
    han = bool(scripts & _HAN)
    stripped = remove_person_prefixes(name) or name
    seen: set[str] = set()
    words: list[_Word] = []
    for token in tokenize_name(stripped.lower()):
        for raw in _romanised_parts(token, han):
            part = _PARTICLE_SPELLINGS.get(raw, raw)
            if part in seen:
                continue  # a repeated word counts once
            seen.add(part)
            words.append(
                _Word(
                    text=part,
                    phonetic=metaphone(part) if part.isalpha() else part,
                    skeleton=_skeleton(part),
                    initial=len(part) == 1,
                    weight=_PARTICLE_WEIGHT if part in _PARTICLES else 1.0,
                )
            )
    return _Name(
        words=tuple(words),
        scripts=scripts,
        lossy=bool(scripts & _LOSSY_SCRIPTS),
        abjad=bool(scripts & _ABJADS),
    )


def _word_similarity(a: _Word, b: _Word, abjad: bool) -> tuple[float, str]:
    if a.text == b.text:
        return 1.0, "same"
    if a.initial or b.initial:
        if a.text[0] == b.text[0]:
            return _INITIAL, "initial"
        return 0.0, "different"
    best, kind = 0.0, "different"
    longest = max(len(a.text), len(b.text))
    distance = Levenshtein.distance(a.text, b.text)
    if distance <= max(1, longest // 4):
        best, kind = 1.0 - distance / longest, "spelling"
    if a.phonetic and a.phonetic == b.phonetic:
        size = len(a.phonetic)
        if size < 3:
            value = _PHONETIC_BY_CODE_LENGTH[size]  # "JN" for john and juan alike
        else:
            code = _PHONETIC_BY_CODE_LENGTH[size] if size < 4 else _PHONETIC_LONG
            value = min(0.95, code + 0.1 * (1.0 - distance / longest))
        if value > best:
            best, kind = value, "phonetic"
    if abjad and a.skeleton and b.skeleton:
        if a.skeleton == b.skeleton:
            size = len(a.skeleton)
            value = _SKELETON_BY_LENGTH[size] if size < 3 else _SKELETON_LONG
        elif min(len(a.skeleton), len(b.skeleton)) >= 3:
            close = Levenshtein.normalized_similarity(a.skeleton, b.skeleton)
            value = 0.8 * close if close >= 0.75 else 0.0
        else:
            value = 0.0
        if value > best:
            best, kind = value, "consonants"
    return best, kind


@dataclass(frozen=True, slots=True)
class _NameComparison:
    score: float
    detail: str


def _compare_names(a: _Name, b: _Name) -> _NameComparison:
    if not a.words or not b.words:
        return _NameComparison(0.0, "no comparable words")
    abjad = a.abjad != b.abjad or (a.abjad and b.abjad)
    candidates: list[tuple[float, int, int, str]] = []
    for i, wa in enumerate(a.words):
        for j, wb in enumerate(b.words):
            value, kind = _word_similarity(wa, wb, abjad)
            if value >= _PAIRED:
                candidates.append((value, i, j, kind))
    candidates.sort(key=lambda c: -c[0])
    used_a: set[int] = set()
    used_b: set[int] = set()
    total = 0.0
    weights = 0.0
    pairs: list[str] = []
    initials_only = True
    for value, i, j, kind in candidates:
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        weight = min(a.words[i].weight, b.words[j].weight)
        total += weight * value
        weights += weight
        if kind != "initial":
            initials_only = False
        pairs.append(f"{a.words[i].text}~{b.words[j].text} {kind} {value:.2f}")
    paired = len(used_a)
    left_a = sum(w.weight for k, w in enumerate(a.words) if k not in used_a)
    left_b = sum(w.weight for k, w in enumerate(b.words) if k not in used_b)
    contradictions = min(left_a, left_b)
    missing = abs(left_a - left_b)
    missing_weight = _MISSING_PART if weights >= 2 else _MISSING_PART_ALONE
    denominator = weights + _CONTRADICTION * contradictions + missing_weight * missing
    score = total / denominator if paired else 0.0
    notes = []
    if paired and initials_only:
        score = min(score, _INITIALS_ONLY_CAP)
        notes.append("initials only")
    if contradictions:
        notes.append(f"{contradictions:g} word(s) on each side unpaired")
    if missing:
        notes.append(f"{missing:g} word(s) on one side only")
    if a.scripts != b.scripts and (a.lossy or b.lossy):
        score *= _LOSSY_DISCOUNT
        notes.append("lossy transliteration across scripts")
    detail = ", ".join(pairs) or "no words pair"
    if notes:
        detail += "; " + ", ".join(notes)
    return _NameComparison(score, detail)


def name_score(a: str, b: str) -> float:
    """How alike two names are, 0 to 1, in any scripts and word order (symmetric)."""
    return _compare_names(_read_name(a), _read_name(b)).score


def explain_names(a: str, b: str) -> str:
    """How ``name_score`` paired the words of two names, in words."""
    return _compare_names(_read_name(a), _read_name(b)).detail


def comparable_name(name: str) -> str:
    """The name's words in lower-case ASCII, each once: what the database indexes with pg_trgm."""
    return " ".join(word.text for word in _read_name(name).words)


def retrieval_keys(name: str) -> frozenset[str]:
    """Keys for candidate retrieval: each word (``t:``), its metaphone code (``p:``) and its
    consonant skeleton (``s:``, which meets abjad spellings); initials give none. A
    candidate worth scoring shares at least one key with the query, or is close by
    trigrams of ``comparable_name``."""
    keys: set[str] = set()
    for word in _read_name(name).words:
        if word.initial:
            continue
        keys.add(f"t:{word.text}")
        if len(word.phonetic) >= 2:
            keys.add(f"p:{word.phonetic}")
        if len(word.skeleton) >= 2:
            keys.add(f"s:{word.skeleton}")
    return frozenset(keys)


def _best_names(query: Party, candidate: Party) -> tuple[float, str, str, str]:
    best = (-1.0, "", "", "")
    for q in query.names:
        for c in candidate.names:
            comparison = _compare_names(_read_name(q), _read_name(c))
            if comparison.score > best[0]:
                best = (comparison.score, q, c, comparison.detail)
    return best if best[0] >= 0 else (0.0, "", "", "no names")


def _birth_feature(query: Party, candidate: Party) -> Feature | None:
    if query.birth_date and candidate.birth_date:
        same = query.birth_date == candidate.birth_date
        detail = f"{query.birth_date.isoformat()} vs {candidate.birth_date.isoformat()}"
        if same:
            return Feature("birth_date", 1.0, _BIRTH_DATE_SAME, 0.0, f"same birth date {detail}")
        return Feature("birth_date_mismatch", 1.0, -_BIRTH_DATE_DIFFERENT, 0.0, detail)
    query_year = query.birth_date.year if query.birth_date else query.birth_year
    candidate_year = candidate.birth_date.year if candidate.birth_date else candidate.birth_year
    if query_year is None or candidate_year is None:
        return None
    detail = f"birth year {query_year} vs {candidate_year}"
    if query_year == candidate_year:
        return Feature("birth_year", 1.0, _BIRTH_YEAR_SAME, 0.0, detail)
    return Feature("birth_year_mismatch", 1.0, -_BIRTH_YEAR_DIFFERENT, 0.0, detail)


def _document_feature(query: Party, candidate: Party) -> Feature | None:
    mine = {normalize_document_number(d) for d in query.documents} - {""}
    theirs = {normalize_document_number(d) for d in candidate.documents} - {""}
    shared = sorted(mine & theirs)
    if not shared:
        return None
    return Feature("document_number", 1.0, _DOCUMENT_NUMBER, 0.0, f"same document {shared[0]}")


def score_party(
    query: Party, candidate: Party, *, threshold: float = DEFAULT_THRESHOLD
) -> MatchResult:
    """Scores ``candidate`` (a watchlist entry) for ``query`` (a traveller): the best pair of
    their names, then birth date, nationality and documents, each a listed feature."""
    name_value, query_name, matched_name, detail = _best_names(query, candidate)
    features = [
        Feature(
            "name_similarity",
            name_value,
            1.0,
            name_value,
            f"{query_name!r} ~ {matched_name!r} ({name_value:.2f}): {detail}",
        )
    ]
    evidence: list[Feature] = []
    birth = _birth_feature(query, candidate)
    if birth is not None:
        evidence.append(birth)
    if (
        query.nationality
        and candidate.nationality
        and query.nationality.upper() != candidate.nationality.upper()
    ):
        evidence.append(
            Feature(
                "nationality_mismatch",
                1.0,
                -_NATIONALITY_MISMATCH,
                0.0,
                f"nationality {query.nationality} vs {candidate.nationality}",
            )
        )
    document = _document_feature(query, candidate)
    if document is not None:
        evidence.append(document)
    score = name_value
    for feature in evidence:
        wanted = feature.value * feature.weight
        # Keep the running score within [0, 1], so the contributions add up to it.
        contribution = min(wanted, 1.0 - score) if wanted > 0 else max(wanted, -score)
        score += contribution
        features.append(
            Feature(feature.name, feature.value, feature.weight, contribution, feature.detail)
        )
    if name_value < NAME_FLOOR and document is None and score >= threshold:
        ceiling = min(threshold, NAME_FLOOR) - 1e-4
        contribution = min(0.0, ceiling - score)
        score += contribution
        features.append(
            Feature(
                "name_floor",
                1.0,
                contribution,
                contribution,
                f"name {name_value:.2f} is below the floor {NAME_FLOOR}: other evidence "
                "cannot make a match",
            )
        )
    score = min(1.0, max(0.0, score))
    return MatchResult(
        score=score,
        match=score >= threshold,
        features=tuple(features),
        query_name=query_name,
        matched_name=matched_name,
    )
