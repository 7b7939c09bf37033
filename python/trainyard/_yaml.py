"""A small, strict parser and emitter for the YAML subset of conda environment files.

Supported: block mappings (``key: value``), block sequences (``- item``, also "compact"
sequences at the same indentation as their key, and ``- key: value`` mappings inside
items such as ``- pip:``), single-line flow sequences (``[a, "b", 'c']``), the empty flow
mapping ``{}``, single- and double-quoted strings, comments, a leading ``---``, and plain
scalars resolved as YAML 1.2 core schema (null, true/false, ints, floats, strings).

Anything else (anchors, aliases, tags, block scalars ``|``/``>``, flow mappings, multi-line
scalars, several documents, tabs in indentation) raises :class:`YamlError` with the line
number, so a file is never silently misread. Parsed mappings and sequences remember the
line of each entry (``.lines``) so callers can name the line of a structural error.
"""

_INDICATORS = "[]{}#&*!|>'\"%@`,?:-"
_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v",
            "f": "\f", "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\",
            "N": "\x85", "_": "\xa0", "L": "\u2028", "P": "\u2029"}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


class YamlError(ValueError):
    """A YAML syntax error or unsupported construct at ``line`` (1-based)."""

    def __init__(self, line, message):
        super().__init__("line {}: {}".format(line, message))
        self.line = line
        self.message = message


class LocatedDict(dict):
    """A parsed mapping; ``lines[key]`` is the line number of the entry."""

    def __init__(self):
        super().__init__()
        self.lines = {}


class LocatedList(list):
    """A parsed sequence; ``lines[i]`` is the line number of item ``i``."""

    def __init__(self):
        super().__init__()
        self.lines = []


def loads(text):
    """Parses one YAML document of the supported subset; an empty document is None."""
    return _Parser(text).parse()


def load_file(path):
    """Parses the YAML file at ``path`` (UTF-8)."""
    with open(path, "r", encoding="utf-8") as f:
        return loads(f.read())


def _is_seq_item(text):
    return text == "-" or text.startswith("- ")


def _strip_comment(text):
    """Cuts a plain scalar at its comment (a '#' at the start or after whitespace)."""
    if text.startswith("#"):
        return ""
    i = text.find(" #")
    return text if i < 0 else text[:i].rstrip()


def _find_key_separator(text):
    """Returns the index of the ':' separating a plain key from its value, or -1."""
    comment = text.find(" #")
    i = 0
    while True:
        j = text.find(":", i)
        if j < 0 or (0 <= comment < j):
            return -1
        if j + 1 == len(text) or text[j + 1] == " ":
            return j
        i = j + 1


def resolve_plain(s):
    """Resolves a plain scalar by the YAML 1.2 core schema."""
    if s in ("null", "Null", "NULL", "~"):
        return None
    if s in ("true", "True", "TRUE"):
        return True
    if s in ("false", "False", "FALSE"):
        return False
    body = s[1:] if s[:1] in "+-" else s
    if body.isdigit() and body.isascii():
        return int(s)
    if body[:2] in ("0o", "0x") and len(body) > 2:
        try:
            return int(body, 8 if body[1] == "o" else 16)
        except ValueError:
            return s
    if body in (".inf", ".Inf", ".INF"):
        return float("-inf") if s[0] == "-" else float("inf")
    if s in (".nan", ".NaN", ".NAN"):
        return float("nan")
    if body and body.isascii() and all(c in "0123456789.eE+-" for c in body) and \
            any(c.isdigit() for c in body) and body[0] in "0123456789.":
        try:
            return float(s)
        except ValueError:
            return s
    return s


class _Parser:
    def __init__(self, text):
        if text.startswith("\ufeff"):
            text = text[1:]
        self.lines = []  # [line number, indent, content]
        seen_content = False
        for number, raw in enumerate(text.splitlines(), 1):
            stripped = raw.strip()
            if not stripped or stripped.startswith("#"):
                continue
            body = raw.lstrip(" ")
            if body.startswith("\t"):
                raise YamlError(number, "tabs are not allowed for indentation; use spaces")
            if stripped.startswith("%"):
                raise YamlError(number, "YAML directives are not supported")
            if stripped == "---" or stripped.startswith("--- "):
                if seen_content or _strip_comment(stripped[3:].strip()):
                    raise YamlError(number, "only one YAML document per file is supported")
                continue
            if stripped == "...":
                raise YamlError(number, "document end markers ('...') are not supported")
            seen_content = True
            self.lines.append([number, len(raw) - len(body), body.rstrip()])
        self.pos = 0

    def parse(self):
        if not self.lines:
            return None
        first = self.lines[0]
        value = self.block(first[1])
        if self.pos < len(self.lines):
            number, indent, _ = self.lines[self.pos]
            if indent == first[1]:
                raise YamlError(number, "list items and 'key: value' entries are mixed at "
                                        "the same level")
            raise YamlError(number, "unexpected indentation (column {})".format(indent + 1))
        return value

    def block(self, indent):
        if _is_seq_item(self.lines[self.pos][2]):
            return self.sequence(indent)
        return self.mapping(indent)

    def _check_no_deeper(self, indent):
        if self.pos < len(self.lines) and self.lines[self.pos][1] > indent:
            number = self.lines[self.pos][0]
            raise YamlError(number, "unexpected indentation; multi-line values are not "
                                    "supported (quote the value on one line)")

    def sequence(self, indent):
        result = LocatedList()
        lines = self.lines
        while self.pos < len(lines) and lines[self.pos][1] == indent and \
                _is_seq_item(lines[self.pos][2]):
            number, _, text = lines[self.pos]
            rest = text[1:].lstrip(" ")
            if not rest or rest.startswith("#"):
                self.pos += 1
                item = self.nested(indent)
            elif _is_seq_item(rest) or self.key_split(rest, number) is not None:
                column = indent + len(text) - len(rest)
                lines[self.pos] = [number, column, rest]  # re-read the item as a block
                item = self.block(column)
            else:
                item = self.inline_value(rest, number)
                self.pos += 1
            result.append(item)
            result.lines.append(number)
            self._check_no_deeper(indent)
        return result

    def nested(self, parent_indent):
        if self.pos < len(self.lines) and self.lines[self.pos][1] > parent_indent:
            return self.block(self.lines[self.pos][1])
        return None

    def mapping(self, indent):
        result = LocatedDict()
        lines = self.lines
        while self.pos < len(lines) and lines[self.pos][1] == indent:
            number, _, text = lines[self.pos]
            if _is_seq_item(text):
                raise YamlError(number, "expected 'key: value', found a list item")
            split = self.key_split(text, number)
            if split is None:
                raise YamlError(number, "expected 'key: value', found {!r}".format(text))
            key, rest = split
            if key in result:
                raise YamlError(number, "duplicate key {!r} (first on line {})".format(
                    key, result.lines[key]))
            self.pos += 1
            if rest:
                value = self.inline_value(rest, number)
            elif self.pos < len(lines) and lines[self.pos][1] == indent and \
                    _is_seq_item(lines[self.pos][2]):
                value = self.sequence(indent)  # compact sequence under its key
            else:
                value = self.nested(indent)
            result[key] = value
            result.lines[key] = number
            self._check_no_deeper(indent)
        return result

    def key_split(self, text, number):
        """Returns (key, rest-of-line) when ``text`` is a 'key: value' entry, else None."""
        if text[0] in "\"'":
            key, end = self.quoted(text, 0, number)
            after = text[end:].lstrip(" ")
            if not after.startswith(":"):
                return None
            if len(after) > 1 and after[1] != " ":
                return None
            rest = after[1:].strip()
            return key, "" if rest.startswith("#") else rest
        if text[0] in "[{":
            return None
        j = _find_key_separator(text)
        if j < 0:
            return None
        key = text[:j].rstrip()
        if not key:
            raise YamlError(number, "empty mapping key")
        if key[0] in "&*!|>%@`?":
            raise YamlError(number, "unsupported key syntax {!r}".format(key))
        rest = text[j + 1:].strip()
        if rest.startswith("#"):
            rest = ""
        return key, rest

    def inline_value(self, text, number):
        c = text[0]
        if c in "\"'":
            value, end = self.quoted(text, 0, number)
            self.expect_end(text, end, number)
            return value
        if c == "[":
            value, end = self.flow_sequence(text, 0, number)
            self.expect_end(text, end, number)
            return value
        if c == "{":
            if text[1:].lstrip(" ").startswith("}"):
                self.expect_end(text, text.index("}") + 1, number)
                return LocatedDict()
            raise YamlError(number, "flow mappings ({...}) are not supported; use block style")
        if c in "&*":
            raise YamlError(number, "anchors and aliases (& and *) are not supported")
        if c == "!":
            raise YamlError(number, "tags (!) are not supported")
        if c in "|>":
            raise YamlError(number, "block scalars (| and >) are not supported")
        if c in "%@`":
            raise YamlError(number, "a plain value cannot start with {!r}; quote it".format(c))
        value = _strip_comment(text)
        if _find_key_separator(value) >= 0:
            raise YamlError(number, "a nested mapping must start on its own line "
                                    "(or quote the value): {!r}".format(value))
        return resolve_plain(value)

    @staticmethod
    def expect_end(text, end, number):
        rest = text[end:].strip()
        if rest and not rest.startswith("#"):
            raise YamlError(number, "unexpected text after the value: {!r}".format(rest))
        if rest.startswith("#") and end < len(text) and text[end] != " ":
            raise YamlError(number, "a comment must be separated from the value by a space")

    @staticmethod
    def quoted(text, i, number):
        """Parses a quoted scalar starting at ``text[i]``; returns (value, end index)."""
        quote = text[i]
        out = []
        j = i + 1
        n = len(text)
        while j < n:
            c = text[j]
            if quote == "'":
                if c == "'":
                    if j + 1 < n and text[j + 1] == "'":
                        out.append("'")
                        j += 2
                        continue
                    return "".join(out), j + 1
                out.append(c)
                j += 1
                continue
            if c == '"':
                return "".join(out), j + 1
            if c == "\\":
                if j + 1 >= n:
                    break
                e = text[j + 1]
                if e in _ESCAPES:
                    out.append(_ESCAPES[e])
                    j += 2
                    continue
                width = _HEX_ESCAPES.get(e)
                digits = text[j + 2:j + 2 + width] if width else ""
                if not width or len(digits) != width or not all(
                        d in "0123456789abcdefABCDEF" for d in digits):
                    raise YamlError(number, "invalid escape sequence {!r}".format(
                        text[j:j + 2 + (width or 0)]))
                out.append(chr(int(digits, 16)))
                j += 2 + width
                continue
            out.append(c)
            j += 1
        raise YamlError(number, "unterminated quoted string (multi-line strings are not "
                                "supported)")

    def flow_sequence(self, text, i, number):
        """Parses ``[a, b, ...]`` starting at ``text[i]``; returns (list, end index)."""
        result = LocatedList()
        j = i + 1
        n = len(text)
        expect_item = True
        while True:
            while j < n and text[j] == " ":
                j += 1
            if j >= n:
                raise YamlError(number, "unterminated flow sequence (multi-line [...] "
                                        "is not supported)")
            c = text[j]
            if c == "]":
                return result, j + 1
            if not expect_item:
                if c != ",":
                    raise YamlError(number, "expected ',' or ']' in flow sequence")
                j += 1
                expect_item = True
                continue
            if c == ",":
                raise YamlError(number, "empty item in flow sequence")
            if c in "\"'":
                item, j = self.quoted(text, j, number)
            elif c == "[":
                item, j = self.flow_sequence(text, j, number)
            elif c == "{":
                raise YamlError(number, "flow mappings ({...}) are not supported")
            elif c in "&*!|>%@`#":
                raise YamlError(number, "unsupported flow item starting with {!r}".format(c))
            else:
                k = j
                while k < n and text[k] not in ",[]{}":
                    k += 1
                raw = text[j:k].strip()
                if " #" in raw or _find_key_separator(raw) >= 0:
                    raise YamlError(number, "unsupported flow item {!r}; quote it".format(raw))
                item, j = resolve_plain(raw), k
            result.append(item)
            result.lines.append(number)
            expect_item = False


# -- emitter ---------------------------------------------------------------------------------

def _format_scalar(value):
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return ".nan"
        if value in (float("inf"), float("-inf")):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    s = str(value)
    if _plain_safe(s):
        return s
    import json
    return json.dumps(s, ensure_ascii=False)


def _plain_safe(s):
    if not s or s != s.strip() or s[0] in _INDICATORS:
        return False
    if ": " in s or " #" in s or s.endswith(":") or any(ord(c) < 0x20 for c in s):
        return False
    return resolve_plain(s) == s and isinstance(resolve_plain(s), str)


def dumps(value):
    """Serializes dicts, lists and scalars as block-style YAML that :func:`loads` reads back
    to an equal value. Sequences under a key use the compact style of conda's own files."""
    lines = []
    _emit(value, 0, lines)
    return "\n".join(lines) + "\n"


def _emit(value, indent, lines):
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            lines.append(pad + "{}")
        for key, item in value.items():
            k = _format_scalar(str(key))
            if isinstance(item, dict) and item:
                lines.append("{}{}:".format(pad, k))
                _emit(item, indent + 2, lines)
            elif isinstance(item, (list, tuple)) and item:
                lines.append("{}{}:".format(pad, k))
                _emit(item, indent, lines)
            else:
                lines.append("{}{}: {}".format(pad, k, _inline(item)))
    elif isinstance(value, (list, tuple)):
        if not value:
            lines.append(pad + "[]")
        for item in value:
            if isinstance(item, (dict, list, tuple)) and item:
                sub = []
                _emit(item, indent + 2, sub)
                sub[0] = pad + "- " + sub[0][indent + 2:]
                lines.extend(sub)
            else:
                lines.append("{}- {}".format(pad, _inline(item)))
    else:
        lines.append(pad + _format_scalar(value))


def _inline(value):
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, (list, tuple)):
        return "[]"
    return _format_scalar(value)
