"""Splitting a setting's value into words the way systemd's extract_first_word() does.

systemd unquotes with EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE: double and single quotes may open
anywhere inside a word, backslash escapes are decoded inside and outside quotes alike (unlike a
shell), and an unknown escape (or a lone trailing backslash) is kept verbatim with a warning.
Unbalanced quotes make the word invalid.
"""

from __future__ import annotations

from dataclasses import dataclass

WHITESPACE = " \t\n\r"

_SIMPLE_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", '"': '"', "'": "'", "s": " ",
}
_HEX = "0123456789abcdefABCDEF"


class WordError(ValueError):
    """The value cannot be split: unbalanced quotes or a lone trailing backslash."""


@dataclass
class Word:
    text: str
    unknown_escape: bool = False  # a backslash sequence systemd does not know was kept verbatim


def _unescape_one(text: str, i: int) -> tuple[str, int] | None:
    """Decode the escape whose character after the backslash is text[i]; None if unknown.

    Returns the decoded text and how many characters (after the backslash) were consumed.
    """
    c = text[i]
    if c in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[c], 1
    if c == "x":
        digits = text[i + 1:i + 3]
        if len(digits) == 2 and all(d in _HEX for d in digits):
            value = int(digits, 16)
            return (chr(value) if value else None), 3  # type: ignore[return-value]
        return None
    if c in "uU":
        n = 4 if c == "u" else 8
        digits = text[i + 1:i + 1 + n]
        if len(digits) == n and all(d in _HEX for d in digits):
            value = int(digits, 16)
            if value == 0 or value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                return None
            return chr(value), 1 + n
        return None
    if c in "01234567":
        digits = text[i:i + 3]
        if len(digits) == 3 and all(d in "01234567" for d in digits):
            value = int(digits, 8)
            if value == 0 or value > 255:
                return None
            return chr(value), 3
        return None
    return None


def extract_word(text: str, pos: int, *, strict: bool = False) -> tuple[Word | None, int]:
    """The next word of `text` from `pos`, and the position after it (and its separators).

    Returns (None, len(text)) when only whitespace is left. Raises WordError where systemd
    fails. `strict` (Environment=) also refuses unknown escapes, as systemd's settings that
    call extract_first_word() without its warn-and-retry wrapper do.
    """
    n = len(text)
    while pos < n and text[pos] in WHITESPACE:
        pos += 1
    if pos >= n:
        return None, n
    out: list[str] = []
    unknown = False
    quote = ""
    while pos < n:
        c = text[pos]
        if c == "\\":
            if pos + 1 >= n:
                if quote or strict:
                    raise WordError("trailing backslash")
                out.append("\\")
                unknown = True
                pos += 1
                continue
            decoded = _unescape_one(text, pos + 1)
            if decoded is None or decoded[0] is None:
                if strict:
                    raise WordError(f"unknown escape \\{text[pos + 1]}")
                out.append("\\" + text[pos + 1])
                unknown = True
                pos += 2
            else:
                out.append(decoded[0])
                pos += 1 + decoded[1]
            continue
        if quote:
            if c == quote:
                quote = ""
            else:
                out.append(c)
            pos += 1
            continue
        if c in "'\"":
            quote = c
            pos += 1
            continue
        if c in WHITESPACE:
            while pos < n and text[pos] in WHITESPACE:
                pos += 1
            return Word("".join(out), unknown), pos
        out.append(c)
        pos += 1
    if quote:
        raise WordError(f"unbalanced {quote} quote")
    return Word("".join(out), unknown), n


def split_words(text: str, *, strict: bool = False) -> tuple[list[str], bool]:
    """All words of a value; the flag says an unknown escape was kept verbatim."""
    words: list[str] = []
    unknown = False
    pos = 0
    while True:
        word, pos = extract_word(text, pos, strict=strict)
        if word is None:
            return words, unknown
        words.append(word.text)
        unknown = unknown or word.unknown_escape
