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
consonant skeleton, an Indonesian word's old spelling (Tjahaja/Cahaya), and,
across scripts whose romanisation is lossy, the same coarse sound key (a
foreign name written by ear: 布魯諾 for Bruno, 트렌트 for Trent). Unpaired words
count against the match: a word on each side that pairs with nothing is a
contradiction, a word that only one side has is a missing part. When words
are left over, the name is also read cut otherwise: Han and Hangul syllables
joined or split after the family name, two or three adjacent words joined
("Abdul Rahman"/"Abdulrahman"). Names either side of "bin" that trade places
are a different man; names compared across lossy scripts are discounted.
Comparisons are cached per pair of names.

``score_party`` starts from the best name pair and adds or removes the other
features; every feature's contribution is listed, and the contributions add
up to the score exactly. A name below ``NAME_FLOOR`` is never lifted to a
match by dates or nationality: a ``name_floor`` feature removes what they
added. Only an exact document number can carry a weaker name over.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any, NamedTuple

from rapidfuzz.distance import OSA, Levenshtein
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
_HANGUL = re.compile(r"[\uac00-\ud7a3]+")
# Hebrew writes j as gimel and geresh (ג'), which ICU leaves as g'.
_HEBREW_J = re.compile(r"g['\u05f3]")
_MAX_WORDS_JOINED = 6
# Spellings by ear (see _sound): letter groups heard as one sound, longest first; then
# letters to classes.
_LATIN_SOUNDS = {
    **dict.fromkeys(("tsch", "sch", "tch", "ch", "sh", "zh"), "s"),
    **{"ph": "f", "kh": "h", "th": "t", "ck": "k", "ng": "n", "q": "k", "x": "ks", "c": "k"},
    **dict.fromkeys(("tz", "ts"), "s"),
    **{f"c{vowel}": f"s{vowel}" for vowel in "eiy"},
    **{f"g{vowel}": f"j{vowel}" for vowel in "eiy"},
}
_PINYIN_SOUNDS = {
    **dict.fromkeys(("ch", "sh", "zh", "c", "q", "x", "j", "z"), "s"),
    **{"ng": "n", "r": "l"},
}


def _alternation(groups: dict[str, str]) -> re.Pattern[str]:
    return re.compile("|".join(sorted(groups, key=len, reverse=True)))


# A romanisation system (Korean's, ICU's for Cyrillic or Arabic) spells g one way, and
# its c is ts (Cyrillic ц).
_SYSTEM_SOUNDS = {
    **{k: v for k, v in _LATIN_SOUNDS.items() if k[0] not in "cg" or k[1:] not in "eiy"},
    "c": "s",
}
_SPELLINGS = {
    name: (_alternation(sounds), sounds)
    for name, sounds in (
        ("latin", _LATIN_SOUNDS),
        ("system", _SYSTEM_SOUNDS),
        ("pinyin", _PINYIN_SOUNDS),
    )
}
_SOUND_CLASSES = str.maketrans(
    {**dict.fromkeys("aeiouywh", None), **dict.fromkeys("bpfv", "b"), "t": "d", "r": "l"}
    | dict.fromkeys("szjc", "s")
    | dict.fromkeys("gkq", "k")
)
_SOUND_BY_LENGTH = (0.0, 0.5, 0.8, 0.9)  # index = key length; 3 and more: the last
_SOUND_CLOSE = 0.75
_OLD_SPELLING = re.compile("tj|dj|sj|oe")
_OLD_SPELLING_SAME = 0.95
_PATRONYMIC = frozenset({"bin", "bint"})
_ORDER_SWAPPED = 0.6
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
_JOINED_PAIRED = 0.8  # ... when one of them joins adjacent words
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
# Birth years further apart than this (or full dates that are no slip of each other) say
# another person: the same name is then never a match by itself.
_BIRTH_YEARS_APART = 1
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


# eq=False: a word is itself (hashed by identity), never compared field by field on the hot path.
@dataclass(frozen=True, slots=True, eq=False)
class _Word:
    text: str  # lower-case ASCII
    phonetic: str
    skeleton: str
    sound: str
    modern: str  # in Indonesian's 1972 spelling, when the word is in the old one
    initial: bool
    weight: float
    parts: int  # words of the name as written that this word joins
    key: int  # this word's number, for the cache of word pairs (never reused)
    paired: float  # the least a pair with this word is worth to be a pairing
    left: float  # what it weighs left unpaired: weight x parts


@dataclass(frozen=True, slots=True)
class _Name:
    text: str  # as given
    words: tuple[_Word, ...]
    # The alternative reading of Han and Hangul tokens (see _token_readings), if any.
    alternative: tuple[str, ...]
    scripts: frozenset[str]
    lossy: bool
    abjad: bool
    spelling: str  # how the words were spelt: see _SPELLINGS
    # The words before and after "bin"/"bint" in "X bin Y"; empty without one.
    before_bin: frozenset[str]
    after_bin: frozenset[str]


def _skeleton(text: str) -> str:
    """The consonants, as an abjad writes them: vowels, doubled letters and a final h gone."""
    consonants = _SKELETON_DROP.sub("", text.replace("gh", "g").translate(_SKELETON_SOUNDS))
    return _REPEATS.sub(r"\1", consonants).removesuffix("h")


def _sound(text: str, spelling: str) -> str:
    """A coarse key of the consonants as heard, for a name written down by ear in another
    script (布魯諾 "bu lu nuo" for Bruno, 프로호로프 "peuloholopeu" for Prokhorov): l and r
    one sound, b/p/f/v one, d/t one, the sibilants and affricates one, vowels, h, w and y
    gone."""
    groups, sounds = _SPELLINGS[spelling]
    text = groups.sub(lambda found: sounds[found.group()], text)
    return _REPEATS.sub(r"\1", text.translate(_SOUND_CLASSES))


def _modern_spelling(text: str) -> str:
    """An Indonesian word in the old spelling (Van Ophuijsen, Soewandi) as the 1972 one
    writes it: tj c, dj j, j y, sj sy, oe u ("Tjahaja" is "Cahaya"). Words without tj, dj,
    sj or oe are left as they are: a j alone is as likely the new spelling's."""
    if not _OLD_SPELLING.search(text):
        return text
    return text.replace("oe", "u").replace("j", "y").replace("dy", "j").replace("ty", "c")


_word_keys = itertools.count()


@lru_cache(maxsize=65536)
def _word(part: str, spelling: str, parts: int = 1) -> _Word:
    # Everything a comparison asks of a word is worked out here, once per word.
    weight = _PARTICLE_WEIGHT if part in _PARTICLES else 1.0
    return _Word(
        text=part,
        phonetic=metaphone(part) if part.isalpha() else part,
        skeleton=_skeleton(part),
        sound=_sound(part, spelling),
        modern=_modern_spelling(part),
        initial=len(part) == 1,
        weight=weight,
        parts=parts,
        key=next(_word_keys),
        paired=_JOINED_PAIRED if parts > 1 else _PAIRED,
        left=weight * parts,
    )


def _ascii_parts(text: str) -> list[str]:
    ascii_form = _JOINING.sub("", _HEBREW_J.sub("j", ascii_text(text).lower()))
    return [part for part in _NON_ALNUM.split(ascii_form) if part]


def _token_readings(token: str, scripts: frozenset[str]) -> tuple[list[str], list[str]]:
    """The token's words as usually read, and an alternative reading ([] when none)."""
    if "Arabic" in scripts:
        token = token.replace("\u0629", "\u0647")  # ta marbuta is heard as a final a/h
    parts = _ascii_parts(token)
    if "Han" in scripts and len(parts) > 1:
        joined = "".join(parts)
        if len(parts) <= 3:
            # A Chinese name: the family name's syllable, then the given name's; or a
            # foreign name written by sound, its syllables one word.
            return [parts[0], "".join(parts[1:])], [joined]
        return [joined], []
    if "Hangul" in scripts and _HANGUL.fullmatch(token):
        # ICU's hyphens only mark where syllables meet; a Korean name is written without a
        # space after the family name's syllable.
        joined = "".join(parts)
        if 2 <= len(token) <= 4:
            return [joined], [*_ascii_parts(token[0]), "".join(_ascii_parts(token[1:]))]
        return [joined], []
    return parts, []


def _words(parts: list[str], spelling: str, joined: tuple[int, int] = (-1, 0)) -> tuple[_Word, ...]:
    """The words, each once; ``joined`` is (where, how many) when adjacent words were joined
    into the one at ``where``."""
    seen: set[str] = set()
    words: list[_Word] = []
    for position, raw in enumerate(parts):
        part = _PARTICLE_SPELLINGS.get(raw, raw)
        if part in seen:
            continue  # a repeated word counts once
        seen.add(part)
        size = joined[1] if position == joined[0] else 1
        words.append(_word(part, spelling, size))
    return tuple(words)


@lru_cache(maxsize=65536)
def _read_name(name: str) -> _Name:
    scripts = frozenset(text_scripts(name))
    spelling = "pinyin" if scripts & _HAN else "latin" if "Latin" in scripts else "system"
    stripped = remove_person_prefixes(name) or name
    usual: list[str] = []
    alternative: list[str] = []
    for token in tokenize_name(stripped.lower()):
        parts, other = _token_readings(token, scripts)
        usual.extend(parts)
        alternative.extend(other or parts)
    words = _words(usual, spelling)
    before_bin: frozenset[str] = frozenset()
    after_bin: frozenset[str] = frozenset()
    texts = [word.text for word in words]
    for place, text in enumerate(texts[1:-1], start=1):
        if text in _PATRONYMIC:
            before_bin, after_bin = frozenset(texts[:place]), frozenset(texts[place + 1 :])
            break
    return _Name(
        text=name,
        words=words,
        alternative=tuple(alternative) if alternative != usual else (),
        scripts=scripts,
        lossy=bool(scripts & _LOSSY_SCRIPTS),
        abjad=bool(scripts & _ABJADS),
        spelling=spelling,
        before_bin=before_bin,
        after_bin=after_bin,
    )


@lru_cache(maxsize=65536)
def _readings(name: str, joins: bool) -> tuple[tuple[_Word, ...], ...]:
    """Other ways to cut the name into words: the alternative reading of Han and Hangul,
    and with ``joins`` each run of two or three adjacent words joined into one ("abdul
    rahman")."""
    read = _read_name(name)
    usual = [word.text for word in read.words]
    readings: list[tuple[_Word, ...]] = []
    if read.alternative:
        readings.append(_words(list(read.alternative), read.spelling))
    if joins and 2 <= len(usual) <= _MAX_WORDS_JOINED:
        for size in (2, 3):
            for start in range(len(usual) - size + 1):
                run = usual[start : start + size]
                if min(len(part) for part in run) < 2:
                    continue  # an initial is not part of a compound
                joined = [*usual[:start], "".join(run), *usual[start + size :]]
                readings.append(_words(joined, read.spelling, (start, size)))
    return tuple(readings)


def _sound_similarity(a: str, b: str) -> float:
    if not a or not b:
        return 0.0
    shorter = min(len(a), len(b))
    exact = _SOUND_BY_LENGTH[min(shorter, len(_SOUND_BY_LENGTH) - 1)]
    if a == b:
        return exact
    if shorter >= 3:
        # Near keys as much as they are alike: one sound in four heard otherwise at most.
        close = Levenshtein.normalized_similarity(a, b)
        if close >= _SOUND_CLOSE:
            return exact * close
    return 0.0


def _word_similarity(a: _Word, b: _Word, abjad: bool, by_ear: bool) -> tuple[float, str]:
    if a.text == b.text:
        return 1.0, "same"
    if a.initial or b.initial:
        if a.text[0] == b.text[0]:
            return _INITIAL, "initial"
        return 0.0, "different"
    if a.modern == b.modern:
        return _OLD_SPELLING_SAME, "old spelling"
    best, kind = 0.0, "different"
    longest = max(len(a.text), len(b.text))
    budget = max(1, longest // 4)
    same_code = bool(a.phonetic) and a.phonetic == b.phonetic
    if same_code and len(a.phonetic) >= 3:
        distance = OSA.distance(a.text, b.text)  # the phonetic value below needs it exactly
    else:
        # Only whether it is within the budget matters: rapidfuzz stops counting past it.
        distance = OSA.distance(a.text, b.text, score_cutoff=budget)
    if distance <= budget:
        best, kind = 1.0 - distance / longest, "spelling"
    if same_code:
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
    if by_ear:
        value = _sound_similarity(a.sound, b.sound)
        if value > best:
            best, kind = value, "sound"
    return best, kind


# Pairs of words already compared, by (key of a, key of b, 2 * abjad + by_ear): the words of
# a watchlist's names recur across names, so a name pair never seen before is mostly made of
# word pairs that were. Emptied when full: a word pair costs a few microseconds to redo.
_word_pairs: dict[tuple[int, int, int], tuple[float, str]] = {}
_WORD_PAIRS_KEPT = 262144


def _compare_words(a: _Word, b: _Word, abjad: bool, by_ear: bool, mode: int) -> tuple[float, str]:
    similarity = _word_similarity(a, b, abjad, by_ear)
    if len(_word_pairs) >= _WORD_PAIRS_KEPT:
        _word_pairs.clear()
    _word_pairs[a.key, b.key, mode] = similarity
    return similarity


class _Alignment(NamedTuple):
    score: float
    pairs: tuple[tuple[_Word, _Word, str, float], ...]
    contradictions: float
    missing: float
    initials_only: bool
    left_a: float  # what of each side pairs with nothing
    left_b: float


def _align(a: tuple[_Word, ...], b: tuple[_Word, ...], abjad: bool, by_ear: bool) -> _Alignment:
    """Pairs the words of two names greedily, best pair first, each word at most once."""
    mode = 2 * abjad + by_ear
    kept = _word_pairs
    # (-value, i, j, kind): sorted as they are, the best pair comes first and, among equal
    # values, the first word of a, then of b, as a stable sort by value alone would have it.
    candidates: list[tuple[float, int, int, str]] = []
    for i, wa in enumerate(a):
        key_a = wa.key
        paired_a = wa.paired
        for j, wb in enumerate(b):
            similarity = kept.get((key_a, wb.key, mode))
            if similarity is None:
                similarity = _compare_words(wa, wb, abjad, by_ear, mode)
            value = similarity[0]
            if value >= paired_a and value >= wb.paired:
                candidates.append((-value, i, j, similarity[1]))
    candidates.sort()
    free_a: list[_Word | None] = list(a)
    free_b: list[_Word | None] = list(b)
    total = 0.0
    weights = 0.0
    pairs: list[tuple[_Word, _Word, str, float]] = []
    initials_only = True
    most = min(len(a), len(b))
    for negated, i, j, kind in candidates:
        word_a, word_b = free_a[i], free_b[j]
        if word_a is None or word_b is None:
            continue
        free_a[i] = free_b[j] = None
        value = -negated
        weight = word_a.weight if word_a.weight <= word_b.weight else word_b.weight
        total += weight * value
        weights += weight
        if kind != "initial":
            initials_only = False
        pairs.append((word_a, word_b, kind, value))
        if len(pairs) == most:
            break  # one side has no word left to pair
    # A joined word that pairs with nothing is as many words as it joins.
    left_a = sum(w.left for w in free_a if w is not None) if len(pairs) < len(a) else 0
    left_b = sum(w.left for w in free_b if w is not None) if len(pairs) < len(b) else 0
    contradictions = min(left_a, left_b)
    missing = abs(left_a - left_b)
    missing_weight = _MISSING_PART if weights >= 2 else _MISSING_PART_ALONE
    denominator = weights + _CONTRADICTION * contradictions + missing_weight * missing
    score = total / denominator if pairs else 0.0
    if pairs and initials_only:
        score = min(score, _INITIALS_ONLY_CAP)
    return _Alignment(score, tuple(pairs), contradictions, missing, initials_only, left_a, left_b)


def _order_swapped(a: _Name, b: _Name, pairs: tuple[tuple[_Word, _Word, str, float], ...]) -> bool:
    """Whether a word before "bin" on one side pairs with a word after it on the other:
    "Salman bin Muhammad" (Salman, son of Muhammad) is not "Muhammad bin Salman"."""
    if not a.before_bin or not b.before_bin:
        return False
    for wa, wb, _, _ in pairs:
        if (wa.text in a.before_bin and wb.text in b.after_bin) or (
            wa.text in a.after_bin and wb.text in b.before_bin
        ):
            return True
    return False


class _NameComparison(NamedTuple):
    score: float
    best: _Alignment | None  # None when a name has no comparable words
    swapped: bool  # the names either side of "bin" traded places
    across: bool  # compared across lossy scripts

    @property
    def detail(self) -> str:
        # Written out only when asked for (explain_names, score_party), not for each score.
        best = self.best
        if best is None:
            return "no comparable words"
        notes = []
        if best.pairs and best.initials_only:
            notes.append("initials only")
        if best.contradictions:
            notes.append(f"{best.contradictions:g} word(s) on each side unpaired")
        if best.missing:
            notes.append(f"{best.missing:g} word(s) on one side only")
        if self.swapped:
            notes.append("the names either side of 'bin' swapped")
        if self.across:
            notes.append("lossy transliteration across scripts")
        detail = ", ".join(f"{wa.text}~{wb.text} {kind} {v:.2f}" for wa, wb, kind, v in best.pairs)
        detail = detail or "no words pair"
        if notes:
            detail += "; " + ", ".join(notes)
        return detail


def _compare_names(a: _Name, b: _Name) -> _NameComparison:
    if not a.words or not b.words:
        return _NameComparison(0.0, None, False, False)
    abjad = a.abjad or b.abjad
    across = a.scripts != b.scripts and (a.lossy or b.lossy)
    best = _align(a.words, b.words, abjad, across)
    if best.left_a or best.left_b:
        # Another cut into words may pair what this one leaves over: Han and Hangul read
        # the other way, or adjacent words joined on the side with more words left over.
        base = best
        for reading in _readings(a.text, base.left_a > base.left_b):
            other = _align(reading, b.words, abjad, across)
            if other.score > best.score:
                best = other
        for reading in _readings(b.text, base.left_b > base.left_a):
            other = _align(a.words, reading, abjad, across)
            if other.score > best.score:
                best = other
    score = best.score
    swapped = _order_swapped(a, b, best.pairs)
    if swapped:
        score *= _ORDER_SWAPPED
    if across:
        score *= _LOSSY_DISCOUNT
    return _NameComparison(score, best, swapped, across)


@lru_cache(maxsize=131072)
def _compare(a: str, b: str) -> _NameComparison:
    # Screening meets the same pairs of names again (each traveller against the same
    # entries), so a comparison is kept.
    return _compare_names(_read_name(a), _read_name(b))


def forget_comparisons() -> None:
    """Drops the comparisons kept of pairs of names (not the names as read, nor the pairs of
    words compared)."""
    _compare.cache_clear()


def name_score(a: str, b: str) -> float:
    """How alike two names are, 0 to 1, in any scripts and word order (symmetric)."""
    return _compare(a, b).score


def explain_names(a: str, b: str) -> str:
    """How ``name_score`` paired the words of two names, in words."""
    return _compare(a, b).detail


def comparable_name(name: str) -> str:
    """The name's words in lower-case ASCII, each once: what the database indexes with pg_trgm."""
    return " ".join(word.text for word in _read_name(name).words)


def retrieval_keys(name: str) -> frozenset[str]:
    """Keys for candidate retrieval: each word (``t:``), its metaphone code (``p:``), its
    consonant skeleton (``s:``, which meets abjad spellings) and its sound by ear (``b:``,
    which meets names written by sound in Han or Hangul), for the words of every reading of
    the name (syllables joined, adjacent words joined); initials give none. A candidate
    worth scoring shares at least one key with the query, or is close by trigrams of
    ``comparable_name``."""
    keys: set[str] = set()
    for words in (_read_name(name).words, *_readings(name, True)):
        for word in words:
            if word.initial:
                continue
            keys.add(f"t:{word.text}")
            if len(word.phonetic) >= 2:
                keys.add(f"p:{word.phonetic}")
            if len(word.skeleton) >= 2:
                keys.add(f"s:{word.skeleton}")
            if len(word.sound) >= 2:
                keys.add(f"b:{word.sound}")
    return frozenset(keys)


def _best_names(query: Party, candidate: Party) -> tuple[float, str, str, str]:
    best = (-1.0, "", "", "")
    for q in query.names:
        for c in candidate.names:
            comparison = _compare(q, c)
            if comparison.score > best[0]:
                best = (comparison.score, q, c, comparison.detail)
    return best if best[0] >= 0 else (0.0, "", "", "no names")


def _near_dates(a: date, b: date) -> bool:
    """A clerical or OCR slip rather than another person: day and month swapped, or one
    character of the eight differs."""
    if (a.year, a.month, a.day) == (b.year, b.day, b.month):
        return True
    return sum(x != y for x, y in zip(f"{a:%Y%m%d}", f"{b:%Y%m%d}", strict=True)) == 1


def _birth_feature(query: Party, candidate: Party) -> Feature | None:
    if query.birth_date and candidate.birth_date:
        same = query.birth_date == candidate.birth_date
        detail = f"{query.birth_date.isoformat()} vs {candidate.birth_date.isoformat()}"
        if same:
            return Feature("birth_date", 1.0, _BIRTH_DATE_SAME, 0.0, f"same birth date {detail}")
        if _near_dates(query.birth_date, candidate.birth_date):
            return Feature(
                "birth_date_mismatch", 1.0, -_BIRTH_DATE_DIFFERENT, 0.0, f"{detail} (a slip?)"
            )
        return Feature("birth_date_contradiction", 1.0, 0.0, 0.0, detail)
    query_year = query.birth_date.year if query.birth_date else query.birth_year
    candidate_year = candidate.birth_date.year if candidate.birth_date else candidate.birth_year
    if query_year is None or candidate_year is None:
        return None
    detail = f"birth year {query_year} vs {candidate_year}"
    if query_year == candidate_year:
        return Feature("birth_year", 1.0, _BIRTH_YEAR_SAME, 0.0, detail)
    if abs(query_year - candidate_year) > _BIRTH_YEARS_APART:
        return Feature("birth_date_contradiction", 1.0, 0.0, 0.0, detail)
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
    contradiction = birth is not None and birth.name == "birth_date_contradiction"
    if contradiction and document is None and score >= threshold:
        ceiling = min(threshold, NAME_FLOOR) - 1e-4
        contribution = ceiling - score
        score += contribution
        features.append(
            Feature(
                "birth_date_floor",
                1.0,
                contribution,
                contribution,
                "the birth dates contradict each other: the same name alone is no match",
            )
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
