"""Machine readable zones made for tests, their check digits computed here, apart from
the reader (``watchlist/mrz.py``)."""

from __future__ import annotations


def digit(text: str) -> str:
    """The check digit, computed here independently of the reader."""
    values = {**{str(d): d for d in range(10)}, "<": 0}
    values.update({chr(ord("A") + i): 10 + i for i in range(26)})
    return str(sum(values[ch] * (7, 3, 1)[i % 3] for i, ch in enumerate(text)) % 10)


def pad(text: str, width: int) -> str:
    return text + "<" * (width - len(text))


def td3(names: str, number: str, *, state: str = "IDN", personal: str = "") -> tuple[str, str]:
    """A TD3 with every check digit right: born 1985-01-01, expires 2030-01-01, male."""
    number = pad(number, 9)
    personal_field = pad(personal, 14)
    personal_digit = digit(personal_field) if personal else "<"
    line = (
        f"{number}{digit(number)}{state}850101{digit('850101')}M300101{digit('300101')}"
        f"{personal_field}{personal_digit}"
    )
    line += digit(line[0:10] + line[13:20] + line[21:43])
    return pad(f"P<{state}{names}", 44), line
