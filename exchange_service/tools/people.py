"""Synthetic foreigners in Anambas: names, birth dates, passport numbers, villages, addresses.

The sample (a few hundred people, each drawn with care) and the benchmark (a
million, drawn fast) take their people from here, so both speak of the same
nationalities, documents and places. Every function draws from the random
generator it is given and from nothing else, so a seed gives the same people.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from exchange_service.data.loader import PlaceKind, district_code_of, places
from exchange_service.domain.model import Sex

# --- names --------------------------------------------------------------------------


@dataclass(frozen=True)
class NameBook:
    """Family names and given names of one nationality, as its passports print them."""

    family: tuple[str, ...]
    male: tuple[str, ...]
    female: tuple[str, ...]

    def given(self, sex: Sex) -> tuple[str, ...]:
        if sex is Sex.MALE:
            return self.male
        if sex is Sex.FEMALE:
            return self.female
        return self.male + self.female


def _book(family: str, male: str, female: str) -> NameBook:
    return NameBook(tuple(family.split(",")), tuple(male.split(",")), tuple(female.split(",")))


# Names as printed in the visual zone of each country's passport, in Latin
# script (pinyin, Revised Romanization, Hepburn, RTGS, Vietnamese without tones).
NAMES: dict[str, NameBook] = {
    "VNM": _book(
        "Nguyen,Tran,Le,Pham,Hoang,Huynh,Phan,Vu,Vo,Dang,Bui,Do,Ho,Ngo,Duong,Ly",
        "Van Hung,Van Dung,Minh Tuan,Thanh Long,Van Nam,Huu Phuc,Duc Thang,Van Hai,Quoc Son,"
        "Cong Binh,Van Cuong,Minh Khanh,Van Tai,Huu Tri,Quang Vinh,Van Loc,Thanh Phong,Van Tam",
        "Thi Lan,Thi Hoa,Thi Mai,Ngoc Anh,Thi Huong",
    ),
    "CHN": _book(
        "Wang,Li,Zhang,Liu,Chen,Yang,Huang,Zhao,Wu,Zhou,Xu,Sun,Lin,He,Guo,Cai,Zheng",
        "Wei,Jianguo,Haitao,Zhiqiang,Xiaolong,Jun,Yong,Qiang,Lei,Hao,Bo,Dongsheng,Guoqiang,"
        "Mingyu,Haiyang,Jinhai,Fuqiang",
        "Xiaoling,Lina,Yan,Jing,Meiling,Xiu Ying,Fang",
    ),
    "AUS": _book(
        "Smith,Campbell,Kelly,Murphy,Ryan,Mitchell,Stewart,Anderson,Cooper,Nguyen,O'Brien",
        "Jack,Liam,Lachlan,Mitchell,Bradley,Andrew James,Cameron,Nathan",
        "Chloe,Sophie,Emily,Kylie,Rebecca,Sarah Jane,Megan",
    ),
    "GBR": _book(
        "Smith,Jones,Taylor,Brown,Williams,Evans,Thomas,Roberts,Walker,Wright,Hughes,MacDonald",
        "James,Oliver,David,Michael,Thomas,Richard,Daniel,Andrew,Ian Robert,Stuart",
        "Sarah,Emma,Charlotte,Helen,Fiona,Claire Louise",
    ),
    "FRA": _book(
        "Martin,Bernard,Dubois,Thomas,Robert,Richard,Petit,Durand,Leroy,Moreau,Lefèvre,Girard",
        "Jean-Luc,Pierre,François,Nicolas,Stéphane,Julien,Thierry",
        "Hélène,Élodie,Amélie,Camille,Céline,Isabelle",
    ),
    "DEU": _book(
        "Müller,Schmidt,Schneider,Fischer,Weber,Meyer,Wagner,Becker,Schulz,Hoffmann,Köhler",
        "Jürgen,Klaus,Stefan,Jörg,Lukas,Maximilian,Tobias,Hans-Peter",
        "Anke,Sabine,Katrin,Ulrike,Julia,Birgit",
    ),
    "NLD": _book(
        "de Vries,Jansen,van Dijk,Bakker,Visser,Smit,Meijer,de Boer,Mulder,van den Berg,Bos",
        "Jan,Pieter,Willem,Maarten,Joost,Daan,Sander",
        "Sanne,Femke,Lotte,Anouk,Marieke",
    ),
    "USA": _book(
        "Johnson,Miller,Davis,Garcia,Rodriguez,Martinez,Anderson,Moore,Jackson,White,Harris,Clark",
        "Michael,Christopher,Matthew,Joshua,Robert,William,John Paul,Kevin",
        "Ashley,Jennifer,Jessica,Amanda,Emily Rose,Rachel",
    ),
    "NZL": _book(
        "Williams,Brown,Wilson,Taylor,Ngata,Parata,Te Rangi,Walker,Thompson",
        "Tama,Hemi,James,Ben,Nikau,Sam",
        "Aroha,Ruby,Sarah,Mere,Grace",
    ),
    "MYS": _book(
        "Tan,Lim,Lee,Wong,Ng,Ong,Chong,Yap",
        "Chee Keong,Wei Liang,Kok Wai,Jun Hong,Boon Heng",
        "Mei Ling,Siew Lan,Hui Wen,Pei Shan",
    ),
    "SGP": _book(
        "Tan,Lim,Lee,Ng,Ong,Wong,Goh,Chua,Koh,Teo",
        "Wei Ming,Jun Hao,Kai Xiang,Zhi Wei,Boon Kiat,Jian Rong",
        "Jia Hui,Hui Min,Xin Yi,Li Ting",
    ),
    "PHL": _book(
        "Santos,Reyes,Cruz,Bautista,Garcia,Mendoza,Dela Cruz,Villanueva,Ramos,Aquino",
        "Juan Carlo,Mark Anthony,Jose Miguel,Ramon,Rodel,Jomar,Arnel,Christian",
        "Mary Grace,Maricel,Jennylyn,Kristine",
    ),
    "IND": _book(
        "Kumar,Sharma,Singh,Nair,Pillai,Reddy,Iyer,Menon,Patel,Das",
        "Rajesh,Suresh,Arun,Vijay,Anil,Deepak,Sanjay,Pradeep",
        "Priya,Lakshmi,Anjali,Deepa",
    ),
    "NOR": _book(
        "Hansen,Johansen,Olsen,Larsen,Andersen,Pedersen,Nilsen,Berg,Haugen,Solberg,Sæther",
        "Lars,Ole,Bjørn,Øyvind,Knut,Magnus,Erik,Håkon,Lars Erik",
        "Ingrid,Sigrid,Kari,Solveig",
    ),
    "KOR": _book(
        "Kim,Lee,Park,Choi,Jung,Kang,Cho,Yoon,Jang,Lim",
        "Min Jun,Ji Hoon,Hyun Woo,Jae Won,Dong Hyun,Young Ho,Sung Min",
        "Seo Yeon,Soo Jin,Eun Ji,Ji Young,Hye Won",
    ),
    "JPN": _book(
        "Sato,Suzuki,Takahashi,Tanaka,Watanabe,Ito,Yamamoto,Nakamura,Kobayashi,Kato,Yoshida",
        "Hiroshi,Takeshi,Kenji,Daisuke,Shota,Kazuki,Haruto,Yusuke",
        "Yuko,Aiko,Haruka,Naomi,Sakura,Emi,Misaki",
    ),
    "THA": _book(
        "Saetang,Srisuk,Wongsawat,Chaiyaphum,Somboon,Phromma,Kaewkla,Thongdee,Boonmee,Sukjai",
        "Somchai,Somsak,Nattapong,Anan,Prasert,Wichai,Kittisak",
        "Malee,Siriporn,Kanya,Pim,Ratana,Nittaya",
    ),
}
# Malay and Indian Malaysians (and Malay Singaporeans) carry one name with a
# patronymic; the passport prints it as the primary identifier only.
MONONYM_SHARES = {"MYS": 0.5, "SGP": 0.2}
_MALAY_MALE = ("Ahmad Faizal", "Mohd Azlan", "Muhammad Hafiz", "Khairul Anuar", "Mohd Rizal")
_MALAY_FEMALE = ("Nurul Aina", "Siti Nurhaliza", "Nor Azizah", "Farah Hanim")
_MALAY_FATHERS = ("Abdullah", "Hassan", "Ismail", "Yusof", "Rahman", "Ibrahim", "Osman")
_TAMIL_MALE = ("Suresh", "Ganesan", "Murugan", "Ravi", "Selvam")
_TAMIL_FEMALE = ("Kavitha", "Malathi", "Revathi")
_TAMIL_FATHERS = ("Krishnan", "Subramaniam", "Muthusamy", "Rajoo")


def _mononym(rng: random.Random, sex: Sex) -> str:
    male = sex is not Sex.FEMALE
    if rng.random() < 0.75:
        own = rng.choice(_MALAY_MALE if male else _MALAY_FEMALE)
        return f"{own} {'bin' if male else 'binti'} {rng.choice(_MALAY_FATHERS)}"
    own = rng.choice(_TAMIL_MALE if male else _TAMIL_FEMALE)
    return f"{own} {'a/l' if male else 'a/p'} {rng.choice(_TAMIL_FATHERS)}"


def person_name(rng: random.Random, nationality: str, sex: Sex) -> tuple[str, str]:
    """A (family name, given names) pair of the nationality; a mononym has no given names."""
    share = MONONYM_SHARES.get(nationality)
    if share is not None and rng.random() < share:
        return _mononym(rng, sex), ""
    names = NAMES[nationality]
    given = rng.choice(names.male if sex is Sex.MALE else names.given(sex))
    return rng.choice(names.family), given


def birth_date(rng: random.Random, years: tuple[int, int]) -> tuple[int, int, int]:
    """A birth (year, month, day) with the year in ``years`` (inclusive); 2% give the year
    only ("XX/XX" in the document: month and day 0, as ``DateParts`` has it)."""
    randrange = rng.randrange
    year, month, day = randrange(years[0], years[1] + 1), randrange(1, 13), randrange(1, 29)
    if rng.random() < 0.02:
        return year, 0, 0
    return year, month, day


# --- passport numbers --------------------------------------------------------------


def _members(spec: str) -> str:
    """The characters of a class such as ``A-NPR-Z0-9``, in order."""
    members: list[str] = []
    i = 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            members += [chr(c) for c in range(ord(spec[i]), ord(spec[i + 2]) + 1)]
            i += 3
        else:
            members.append(spec[i])
            i += 1
    return "".join(members)


def _alphabets(pattern: str) -> tuple[str, ...]:
    """What each character of a number may be; a literal character is its own alphabet."""
    alphabets: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "{":
            end = pattern.index("}", i)
            alphabets += [alphabets[-1]] * (int(pattern[i + 1 : end]) - 1)
            i = end + 1
            continue
        if char == "[":
            end = pattern.index("]", i)
            alphabets.append(_members(pattern[i + 1 : end]))
            i = end + 1
        elif pattern.startswith(r"\d", i):
            alphabets.append("0123456789")
            i += 2
        else:
            alphabets.append(char)
            i += 1
    return tuple(alphabets)


class PassportFormat:
    """The numbers an issuer prints, as a regular expression of literal characters,
    ``\\d``, classes ``[...]`` and counts ``{n}``; ``pattern`` matches every number made."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.alphabets = _alphabets(pattern)
        self.capacity = math.prod(len(alphabet) for alphabet in self.alphabets)
        # Most numbers end in a run of digits, written at once by nth().
        digits = len(self.alphabets)
        while digits and self.alphabets[digits - 1] == "0123456789":
            digits -= 1
        self._head = self.alphabets[:digits]
        self._tail_size = 10 ** (len(self.alphabets) - digits)
        self._tail_format = f"0{len(self.alphabets) - digits}d"

    def draw(self, rng: random.Random) -> str:
        """A random number: one draw per character that is not literal."""
        return "".join(a if len(a) == 1 else rng.choice(a) for a in self.alphabets)

    def nth(self, index: int) -> str:
        """The number at ``index`` (0 to capacity - 1) in the format's own order."""
        index, tail = divmod(index, self._tail_size)
        head = ""
        for alphabet in reversed(self._head):
            index, position = divmod(index, len(alphabet))
            head = alphabet[position] + head
        return head + format(tail, self._tail_format) if self._tail_size > 1 else head


# Passport numbers roughly in each issuer's current format; where an issuer has
# two, the share of the first. Letters are all but O and Q, which most avoid.
_L = "[A-NPR-Z]"
PASSPORT_FORMATS: dict[str, tuple[tuple[float, PassportFormat], ...]] = {
    state: tuple((share, PassportFormat(pattern)) for share, pattern in formats)
    for state, formats in {
        "VNM": ((1.0, r"[CN]\d{7}"),),
        "CHN": ((0.7, r"E\d{8}"), (0.3, rf"E{_L}\d{{7}}")),
        "AUS": ((1.0, rf"[PNR]{_L}\d{{7}}"),),
        "GBR": ((1.0, r"[1-5]\d{8}"),),
        "FRA": ((1.0, rf"\d{{2}}{_L}{{2}}\d{{5}}"),),
        "DEU": ((1.0, r"[CFGHJK][CFGHJKLMNPRTVWXYZ0-9]{8}"),),
        "NLD": ((1.0, rf"{_L}{{2}}[A-NPR-Z0-9]{{6}}\d"),),
        "USA": ((0.6, r"[56]\d{8}"), (0.4, r"A\d{8}")),
        "NZL": ((1.0, r"L[AHJ]\d{6}"),),
        "MYS": ((1.0, r"[AH]\d{8}"),),
        "SGP": ((1.0, rf"[KE]\d{{7}}{_L}"),),
        "PHL": ((1.0, rf"P\d{{7}}{_L}"),),
        "IND": ((1.0, rf"{_L}\d{{7}}"),),
        "NOR": ((1.0, rf"{_L}{{2}}\d{{7}}"),),
        "KOR": ((0.6, r"M\d{8}"), (0.4, rf"M\d{{3}}{_L}\d{{4}}")),
        "JPN": ((1.0, rf"[TMR]{_L}\d{{7}}"),),
        "THA": ((1.0, rf"{_L}{{2}}\d{{7}}"),),
    }.items()
}
# Spreads consecutive serials over all of a state's numbers (Knuth's multiplicative
# hash); prime, so a bijection modulo any capacity the alphabets above make
# (checked in passport_capacity).
_SCRAMBLE = 2_654_435_761
_SCRAMBLE_OFFSET = 1_234_567_891  # so that serial 0 is not all zeros


def draw_passport_number(rng: random.Random, state: str) -> str:
    """A random passport number of ``state``'s format (the caller keeps them unique)."""
    formats = PASSPORT_FORMATS[state]
    chosen = formats[-1][1]
    if len(formats) > 1:
        roll, total = rng.random(), 0.0
        for share, candidate in formats:
            total += share
            if roll < total:
                chosen = candidate
                break
    return chosen.draw(rng)


def _capacity(state: str) -> int:
    capacity = sum(fmt.capacity for _, fmt in PASSPORT_FORMATS[state])
    if math.gcd(_SCRAMBLE, capacity) != 1:
        raise ValueError(f"{state}: {capacity} numbers, a multiple of {_SCRAMBLE}")
    return capacity


_CAPACITIES = {state: _capacity(state) for state in PASSPORT_FORMATS}


def passport_capacity(state: str) -> int:
    """How many numbers :func:`passport_number` can give ``state`` before one repeats."""
    return _CAPACITIES[state]


def passport_number(state: str, serial: int) -> str:
    """The passport number of ``state`` for ``serial``: different serials give different
    numbers (up to :func:`passport_capacity`), spread over all of the state's formats."""
    capacity = _CAPACITIES[state]
    if not 0 <= serial < capacity:
        raise ValueError(f"no unique {state} passport number for serial {serial}")
    index = (serial * _SCRAMBLE + _SCRAMBLE_OFFSET) % capacity
    for _, fmt in PASSPORT_FORMATS[state]:
        if index < fmt.capacity:
            return fmt.nth(index)
        index -= fmt.capacity
    raise AssertionError("the formats' capacities add up to the state's")


# --- villages and addresses ---------------------------------------------------------


@dataclass(frozen=True)
class Village:
    """A desa or kelurahan of the regency, at the centroid the shipped places give."""

    code: str
    name: str
    district_code: str
    district_name: str
    latitude: float
    longitude: float
    kelurahan: bool  # a town ward (kelurahan) rather than a rural desa


@functools.cache
def villages() -> tuple[Village, ...]:
    """Every desa and kelurahan centroid of ``anambas_places.csv``, in file order."""
    rows = places()
    districts = {
        place.code: place.name.removeprefix("Kecamatan ")
        for place in rows
        if place.kind is PlaceKind.DISTRICT_CENTROID
    }
    return tuple(
        Village(
            code=place.code,
            name=place.name,
            district_code=district_code_of(place.code),
            district_name=districts.get(district_code_of(place.code), ""),
            latitude=place.latitude,
            longitude=place.longitude,
            kelurahan=place.kind is PlaceKind.KELURAHAN_CENTROID,
        )
        for place in rows
        if place.kind in (PlaceKind.DESA_CENTROID, PlaceKind.KELURAHAN_CENTROID)
    )


@functools.cache
def _villages_by_name() -> dict[str, Village]:
    return {village.name: village for village in villages()}


def village_named(name: str) -> Village:
    """The village of that name; KeyError naming the file if there is none."""
    try:
        return _villages_by_name()[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a village of anambas_places.csv") from None


STREETS: Sequence[str] = (
    "Hang Tuah",
    "Hang Jebat",
    "Hang Lekir",
    "Raja Haji Fisabilillah",
    "Sultan Mahmud",
    "Imam Bonjol",
    "Diponegoro",
    "Sudirman",
    "Ahmad Yani",
    "Pelabuhan",
    "Pantai",
    "Nelayan",
    "Merdeka",
    "Kartini",
    "Datuk Laksamana",
    "Bukit Indah",
)


def address_line(rng: random.Random, village: Village, prefix: str = "") -> str:
    """An Indonesian address line in the village: street, RT/RW, village and district."""
    randrange = rng.randrange
    street, number = rng.choice(STREETS), randrange(1, 121)
    rt, rw = randrange(1, 7), randrange(1, 4)
    head = f"{prefix}, " if prefix else ""
    unit = "Kel." if village.kelurahan else "Desa"
    return (
        f"{head}Jl. {street} No. {number}, RT {rt:02d}/RW {rw:02d}, "
        f"{unit} {village.name}, Kec. {village.district_name}"
    )
