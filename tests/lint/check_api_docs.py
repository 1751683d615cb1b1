#!/usr/bin/env python3
"""Every PIO_API declaration in include/ carries a doc comment.

A declaration is documented when either
  - a comment ends on the line right above its first line (no blank line
    between: the headers' convention), or
  - it follows another declaration with nothing between them (no blank
    line, no comment), and the comment right above the first declaration
    of that run names it: a group such as
        /* pio_telemetry_enable turns ...; pio_telemetry_enabled says ... */
        PIO_API void pio_telemetry_enable(bool on);
        PIO_API bool pio_telemetry_enabled(void);
    shares one comment only if the comment spells out every name after
    the first.
Banner comments (/* ---- reader ---- */) document nothing. Offences are
printed as file:line: function, one a line; the exit status is 1 if there
are any. A built-in self-test runs first, so a lint that stops catching an
undocumented declaration fails too.
"""
import argparse
import os
import re
import sys

BANNER = re.compile(r"^\s*-{2,}.*-{2,}\s*$", re.S)
NAME = re.compile(r"\b([A-Za-z_]\w*)\s*\(")


def scan(text):
    """Per line: whether it holds code outside comments; and the comments
    that start a line (no code before them), as (first, last, text,
    code_after) with 0-based line numbers."""
    lines = text.split("\n")
    has_code = [False] * len(lines)
    last_code = [-1] * len(lines)  # offset of each line's last code character
    found = []
    i, n, line = 0, len(text), 0
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif text.startswith("/*", i) or text.startswith("//", i):
            start_line, block = line, text.startswith("/*", i)
            end = text.find("*/", i + 2) if block else text.find("\n", i)
            end = n if end < 0 else end + (2 if block else 0)
            body = text[i + 2 : end - (2 if block else 0)]
            leading = text[text.rfind("\n", 0, i) + 1 : i].strip() == ""
            line += text.count("\n", i, end)
            i = end
            if leading:
                found.append((start_line, line, body, end))
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            has_code[line], last_code[line] = True, j
            i = j + 1
        else:
            if not c.isspace():
                has_code[line], last_code[line] = True, i
            i += 1
    comments = [(a, b, body, last_code[b] >= end) for a, b, body, end in found]
    return lines, has_code, comments


def doc_blocks(comments):
    """Map: last line of a run of comments (each starting on the line after
    the previous one ends) -> the run's text."""
    out, run_text, prev_last = {}, "", None
    for first, last, body, code_after in comments:
        if code_after:
            run_text, prev_last = "", None
            continue
        run_text = run_text + "\n" + body if prev_last is not None and first == prev_last + 1 else body
        prev_last = last
        out[last] = run_text
    return out


def declarations(lines, has_code):
    """(first line, last line, function name) of each PIO_API declaration."""
    decls, k = [], 0
    while k < len(lines):
        if has_code[k] and not lines[k].lstrip().startswith("#") and \
                re.search(r"\bPIO_API\b", re.sub(r"/\*.*?\*/", " ", lines[k])):
            first, parts = k, []
            while k < len(lines):
                parts.append(re.sub(r"/\*.*?\*/", " ", lines[k]))
                if not lines[k].lstrip().startswith("#") and lines[k].rstrip().endswith(";"):
                    break
                k += 1
            m = NAME.search(" ".join(parts))
            decls.append((first, k, m.group(1) if m else "?"))
        k += 1
    return decls


def is_doc(body):
    """Prose, not a banner, an empty comment or commented-out code."""
    return (not BANNER.match(body) and re.search(r"[A-Za-z]", body) is not None
            and not body.rstrip().endswith(";"))


def check_text(text, where):
    lines, has_code, comments = scan(text)
    docs = {last: body for last, body in doc_blocks(comments).items() if is_doc(body)}
    offences = []
    for k, line in enumerate(lines):
        code = re.sub(r"/\*.*?\*/|//.*$", " ", line)
        if has_code[k] and len(re.findall(r"\bPIO_API\b", code)) > 1:
            offences.append(f"{where}:{k + 1}: one PIO_API declaration per line")
    prev = None  # (last line, the comment heading its run or None)
    for first, last, name in declarations(lines, has_code):
        if first - 1 in docs:
            head = docs[first - 1]
        elif prev is not None and prev[0] == first - 1 and prev[1] is not None:
            head = prev[1]
            if not re.search(r"\b" + re.escape(name) + r"\b", head):
                offences.append(f"{where}:{first + 1}: {name}")
        else:
            head = None
            offences.append(f"{where}:{first + 1}: {name}")
        prev = (last, head)
    return offences


SELF_TEST = [
    ("/* Does x. */\nPIO_API int pio_a(void);\n", []),
    ("/* Does x. */\n\nPIO_API int pio_a(void);\n", ["pio_a"]),
    ("int x;\nPIO_API int pio_a(void);\n", ["pio_a"]),
    ("/* ---- section ---- */\nPIO_API int pio_a(void);\n", ["pio_a"]),
    ("/* pio_a and pio_b. */\nPIO_API int pio_a(void);\nPIO_API int pio_b(void);\n", []),
    ("/* pio_a only. */\nPIO_API int pio_a(void);\nPIO_API int pio_b(void);\n", ["pio_b"]),
    ("/* pio_a, pio_bc. */\nPIO_API int pio_a(void);\nPIO_API int pio_b(int x,\n"
     "                          int y);\n", ["pio_b"]),
    ("/* One. */\nPIO_API int pio_a(void);\n/* Two. */\nPIO_API int pio_b(void);\n", []),
    ("/*\n * Multi\n * line.\n */\nPIO_API const char *pio_a(int x,\n    int y);\n", []),
    ("/* pio_a, pio_b */\nPIO_API int pio_a(void);\n\nPIO_API int pio_b(void);\n", ["pio_b"]),
    ("int y; /* trailing */\nPIO_API int pio_a(void);\n", ["pio_a"]),
    ("/* Note, pio_b: */\nPIO_API void pio_a(const char *f, ...)\n#if defined(X)\n"
     "    __attribute__((format(printf, 1, 2)))\n#endif\n    ;\nPIO_API int pio_b(void);\n", []),
    ("/* x */ /* y */\nPIO_API int pio_a(void);\n", []),
    ("#define S \"/* not a comment\"\nPIO_API int pio_a(void);\n", ["pio_a"]),
    ("/**/\nPIO_API int pio_a(void);\n", ["pio_a"]),
    ("/* int pio_a(void); */\nPIO_API int pio_a(void);\n", ["pio_a"]),
    ("/* Does a. */\nextern PIO_API int pio_a(void);\n", []),
    ("extern PIO_API int pio_a(void);\n", ["pio_a"]),
    ("/* Both. */\nPIO_API int pio_a(void); PIO_API int pio_b(void);\n",
     ["one PIO_API declaration per line"]),
    ("/* Does a. */\nPIO_API int pio_a(void); /* unlike PIO_API b */\n", []),
]


def self_test():
    bad = []
    for k, (text, want) in enumerate(SELF_TEST):
        got = [o.rsplit(": ", 1)[1] for o in check_text(text, "t")]
        if got != want:
            bad.append(f"check_api_docs self-test {k}: flagged {got}, expected {want}")
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="the source tree (its include/ is checked)")
    a = ap.parse_args()
    errors = self_test()
    inc = os.path.join(a.root, "include")
    headers, ndecl = [], 0
    for dirpath, _, files in os.walk(inc):
        headers += [os.path.join(dirpath, f) for f in files if f.endswith(".h")]
    for path in sorted(headers):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        rel = os.path.relpath(path, a.root)
        errors += check_text(text, rel)
        ndecl += len(declarations(*scan(text)[:2]))
    for e in errors:
        print(e)
    print(f"check_api_docs: {ndecl} PIO_API declarations in {len(headers)} headers: "
          f"{len(errors)} undocumented")
    return 1 if errors or ndecl == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
