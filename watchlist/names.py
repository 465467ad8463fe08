"""Name normalisation and similarity shared by person search and watchlist screening.

Names are compared after transliteration to ASCII, case folding and dropping
punctuation, and as a bag of words, so "Müller, Hans-Peter" and "hans peter
MUELLER" come close. Similarity is rapidfuzz's token-set and token-sort ratios,
which forgive word order and small spelling differences.
"""

from __future__ import annotations

from normality import normalize
from rapidfuzz import fuzz

# German-style transliterations that normality folds to a single vowel.
_DIGRAPHS = (("ae", "a"), ("oe", "o"), ("ue", "u"))


def name_tokens(*parts: str) -> list[str]:
    """The words of a name, transliterated to lower-case ASCII."""
    text = normalize(" ".join(parts), lowercase=True, ascii=True) or ""
    return [token for token in text.split() if token]


def search_key(*parts: str) -> str:
    """Words of the name sorted, so word order does not matter; used for trigram retrieval."""
    return " ".join(sorted(name_tokens(*parts)))


def _fold_digraphs(text: str) -> str:
    for digraph, vowel in _DIGRAPHS:
        text = text.replace(digraph, vowel)
    return text


def name_similarity(query: str, candidate: str) -> float:
    """Similarity of two names, 0 to 1; 1 when they have the same words in any order."""
    a = _fold_digraphs(search_key(query))
    b = _fold_digraphs(search_key(candidate))
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    sort_ratio = fuzz.token_sort_ratio(a, b) / 100.0
    set_ratio = fuzz.token_set_ratio(a, b) / 100.0
    # A query that names only some of the words ("wang") matches token_set
    # fully; weigh it below an exact match of all words.
    return round(min(0.99, max(sort_ratio, 0.9 * set_ratio)), 4)
