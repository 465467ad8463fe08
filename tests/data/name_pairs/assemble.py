"""Assembles pairs.csv from the public sources named in SOURCES.md (run once, by hand).

    python tests/data/name_pairs/assemble.py NOMENKLATURA_GIT NETRANSLIT_GIT > pairs.csv

NOMENKLATURA_GIT and NETRANSLIT_GIT are clones (bare or not) of
opensanctions/nomenklatura and steveash/NETransliteration-COLING2018. The
pseudo-random choices are seeded, so the same inputs give the same file. The
split (dev/test) is a hash of the pair, decided before any scoring.
"""

from __future__ import annotations

import csv
import hashlib
import random
import subprocess
import sys
import unicodedata
from collections import defaultdict

from rapidfuzz.distance import Levenshtein

FIELDS = ("name1", "name2", "match", "source", "category", "split")
Row = dict[str, str]


def _git_show(repo: str, path: str) -> str:
    out = subprocess.run(
        ["git", "--git-dir", repo, "show", f"HEAD:{path}"], check=True, capture_output=True
    )
    return out.stdout.decode("utf-8")


def _split(name1: str, name2: str) -> str:
    digest = hashlib.blake2b(f"{name1}\x1f{name2}".encode(), digest_size=4).digest()
    return "dev" if digest[0] < 77 else "test"  # about 30 % dev


def _row(name1: str, name2: str, match: bool, source: str, category: str) -> Row:
    return {
        "name1": name1,
        "name2": name2,
        "match": "true" if match else "false",
        "source": source,
        "category": category,
        "split": _split(name1, name2),
    }


def nomenklatura_cases(repo: str) -> list[Row]:
    """Every Person pair of nomenklatura's contrib/name_bench/cases.csv (MIT)."""
    text = _git_show(repo, "contrib/name_bench/cases.csv")
    rows = []
    for case in csv.DictReader(text.splitlines()):
        if case["schema"] != "Person":
            continue
        rows.append(
            _row(
                case["name1"],
                case["name2"],
                case["is_match"] == "true",
                f"nomenklatura:{case['case_group']}",
                case["category"] or "unlabelled",
            )
        )
    return rows


def _tokens(repo: str, script: str) -> dict[str, tuple[str, int]]:
    """English name part -> (its most frequent form in the script, count), from Wikidata."""
    best: dict[str, tuple[str, int]] = {}
    for line in _git_show(repo, f"data/wd_{script}.normalized.aligned.tokens").splitlines():
        parts = line.split("\t")
        if len(parts) != 3:
            continue
        latin, native, count = parts[0], parts[1].replace(" ", ""), int(parts[2])
        if not latin.isalpha() or len(latin) < 3 or not latin.isascii():
            continue
        if latin not in best or best[latin][1] < count:
            best[latin] = (native, count)
    return best


def cross_script_tokens(repo: str, rng: random.Random) -> list[Row]:
    """Name parts in Latin against their Arabic / Chinese forms (Wikidata, CC0), and against
    the form of another, clearly different name part (unrelated alias)."""
    rows = []
    for script, per in (("arabic", 90), ("chinese", 60)):
        tokens = _tokens(repo, script)
        common = sorted(t for t, (_, count) in tokens.items() if count >= 8)
        chosen = rng.sample(common, per)
        for latin in chosen:
            native = tokens[latin][0]
            rows.append(_row(latin.title(), native, True, f"wikidata:{script}", "cross-script"))
        for latin in rng.sample(common, per):
            while True:
                other = rng.choice(common)
                if (
                    tokens[other][0] != tokens[latin][0]
                    and Levenshtein.normalized_similarity(other, latin) < 0.4
                ):
                    break
            rows.append(
                _row(
                    latin.title(), tokens[other][0], False, f"wikidata:{script}", "unrelated-alias"
                )
            )
    return rows


def _full_names(repo: str, script: str) -> list[tuple[str, str]]:
    pairs = []
    for line in _git_show(repo, f"data/wd_{script}").splitlines():
        parts = line.split("\t")
        if len(parts) != 2:
            continue
        latin, native = parts
        words = latin.split()
        if not 2 <= len(words) <= 3 or len(native.split()) != len(words):
            continue
        if not all(w.isalpha() and w[0].isupper() for w in words):
            continue
        if any(w in {"Of", "The", "Von", "Van", "De"} for w in words):
            continue
        pairs.append((latin, native))
    return pairs


def cross_script_full(repo: str, rng: random.Random) -> list[Row]:
    """Full person names in Latin against Korean (Hangul) and Hebrew labels (Wikidata, CC0)."""
    rows = []
    for script, per in (("korean", 50), ("hebrew", 40)):
        people = _full_names(repo, script)[:4000]
        for latin, native in rng.sample(people, per):
            rows.append(_row(latin, native, True, f"wikidata:{script}", "cross-script"))
        for latin, _ in rng.sample(people, per):
            other_latin, other = rng.choice(people)
            if set(other_latin.split()) & set(latin.split()):
                continue
            rows.append(_row(latin, other, False, f"wikidata:{script}", "unrelated-alias"))
    return rows


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def latin_variants(repo: str, rng: random.Random) -> list[Row]:
    """Derived from Wikidata person labels (CC0): the same person's name reordered, with an
    initial, without the middle name, without diacritics or upper-cased (match); two
    different persons who share the family name or the given name (no match)."""
    people = [latin for latin, _ in _full_names(repo, "korean")[:8000]]
    rows = []
    for name in rng.sample(people, 120):
        words = name.split()
        kind = rng.choice(("swap", "initial", "middle", "ascii-upper"))
        if kind == "swap":
            variant = " ".join([words[-1], *words[:-1]])
        elif kind == "initial":
            variant = " ".join([f"{words[0][0]}.", *words[1:]])
        elif kind == "middle" and len(words) == 3:
            variant = f"{words[0]} {words[2]}"
        else:
            kind = "ascii-upper"
            variant = _strip_accents(name).upper()
        rows.append(_row(variant, name, True, "wikidata:derived", kind))
    by_family: dict[str, list[str]] = defaultdict(list)
    by_given: dict[str, list[str]] = defaultdict(list)
    for name in people:
        words = name.split()
        by_family[words[-1]].append(name)
        by_given[words[0]].append(name)
    for groups, kind, per, index in (
        (by_family, "same-family-name", 70, 0),
        (by_given, "same-given-name", 50, -1),
    ):
        keys = sorted(k for k, names in groups.items() if len(names) >= 2)
        for key in rng.sample(keys, per):
            first, second = rng.sample(groups[key], 2)
            a, b = first.split()[index], second.split()[index]
            # Different names, not spellings of one name (Jon / John).
            if Levenshtein.normalized_similarity(a.lower(), b.lower()) >= 0.5:
                continue
            rows.append(_row(first, second, False, "wikidata:derived", kind))
    return rows


def main() -> None:
    nomenklatura, netranslit = sys.argv[1], sys.argv[2]
    rng = random.Random(1313)
    rows = nomenklatura_cases(nomenklatura)
    rows += cross_script_tokens(netranslit, rng)
    rows += cross_script_full(netranslit, rng)
    rows += latin_variants(netranslit, rng)
    with open(__file__.replace("assemble.py", "indonesian.csv"), encoding="utf-8") as f:
        rows += [
            _row(r["name1"], r["name2"], r["match"] == "true", "indonesian", r["category"])
            for r in csv.DictReader(f)
        ]
    seen: set[tuple[str, str]] = set()
    writer = csv.DictWriter(sys.stdout, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        key = (row["name1"], row["name2"])
        if key not in seen:
            seen.add(key)
            writer.writerow(row)


if __name__ == "__main__":
    main()
