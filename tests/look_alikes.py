"""Characters that look like ASCII letters and digits but are not, for the tests of the ASCII-only rules."""

from __future__ import annotations

import string

_FULLWIDTH_OFFSET = 0xFEE0  # U+FF01..U+FF5E are the fullwidth forms of "!".."~"


def fullwidth(text: str) -> str:
    """``text`` in fullwidth forms: "alice" becomes what a CJK keyboard may type for it."""
    return "".join(chr(ord(char) + _FULLWIDTH_OFFSET) if "!" <= char <= "~" else char for char in text)


# For each of some ASCII letters and digits, one that looks alike: fullwidth forms, and Cyrillic, Greek and
# other letters that fonts draw the same, written as escapes so that the source shows what they are.
LOOK_ALIKES: dict[str, str] = {
    **{char: fullwidth(char) for char in string.ascii_letters + string.digits},
    "a": "\u0430",  # CYRILLIC SMALL LETTER A
    "e": "\u0435",  # CYRILLIC SMALL LETTER IE
    "o": "\u043e",  # CYRILLIC SMALL LETTER O
    "p": "\u0440",  # CYRILLIC SMALL LETTER ER
    "c": "\u0441",  # CYRILLIC SMALL LETTER ES
    "x": "\u0445",  # CYRILLIC SMALL LETTER HA
    "A": "\u0391",  # GREEK CAPITAL LETTER ALPHA
    "B": "\u0392",  # GREEK CAPITAL LETTER BETA
    "K": "\u212a",  # KELVIN SIGN
    "i": "\u0131",  # LATIN SMALL LETTER DOTLESS I
    "b": "\U0001d41b",  # MATHEMATICAL BOLD SMALL B
}
