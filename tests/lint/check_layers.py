#!/usr/bin/env python3
"""The module graph runs one way, and the library exports only pio_ names.

Checks, each failing with one line per offence:
  includes  every #include in src/ and python/src/ is the file's own module's,
            a public header (prismio/*.h) of its module or of one below it,
            or a module below's interface header src/<module>/pio_<module>.h
            (never another module's private header);
  calls     (--objects) an object file only uses symbols defined in its own
            module or in modules below it, and no two files of the library
            use each other (no file-level cycle, through any path);
  symbols   (--static-lib) every global symbol the static library defines
            starts with pio_ (public or pio__ internal).
The layers are in LAYERS below: a module may use the modules of lower
layers only, never one of its own layer or above.
"""
import argparse
import os
import re
import subprocess
import sys

LAYERS = [
    ["common"],
    ["concurrent", "telemetry"],
    ["hash", "io", "codec"],
    ["format"],
    ["pipeline", "arrow", "dataset"],
    ["formats"],
    ["mpi"],
    ["clikit"],
    ["benchcli", "workflow"],
    ["cli", "python"],
]
# The program's modules: the public API only, and the program modules
# below them (each a folder on the program's include path: bare names).
PROGRAM = {"clikit", "benchcli", "workflow", "cli", "python"}
LEVEL = {m: i for i, layer in enumerate(LAYERS) for m in layer}
# The public headers and the module that owns each.
PUBLIC = {
    "common.h": "common",
    "concurrent.h": "concurrent",
    "telemetry.h": "telemetry",
    "blake3.h": "hash",
    "io.h": "io",
    "holo.h": "format",
    "pipeline.h": "pipeline",
    "arrow.h": "arrow",
    "dataset.h": "dataset",
    "convert.h": "formats",
    "mpi.h": "mpi",
    "prismio.h": "clikit",  # the umbrella header: for programs
}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^">]+)[">]', re.M)
ANY_INCLUDE = re.compile(r"^\s*#\s*include\b(.*)$", re.M)


def below(user, used):
    return used == user or LEVEL[used] < LEVEL[user]


def module_of(path, root):
    rel = os.path.relpath(path, root)
    parts = rel.split(os.sep)
    if parts[0] == "src" and len(parts) > 2:
        return parts[1]
    if parts[:2] == ["python", "src"]:
        return "python"
    return None


def check_includes(root, errors):
    files = []
    for top in ("src", os.path.join("python", "src")):
        for d, _, names in os.walk(os.path.join(root, top)):
            files += [os.path.join(d, n) for n in names if n.endswith((".c", ".h", ".S"))]
    for f in sorted(files):
        mod = module_of(f, root)
        rel = os.path.relpath(f, root)
        if mod not in LEVEL:
            errors.append(f"{rel}: module '{mod}' is in no layer (add it to LAYERS)")
            continue
        # lines continued with a backslash are one line to the preprocessor:
        # (first physical line, logical line)
        logical, buf, start = [], "", None
        for n, phys in enumerate(open(f, encoding="utf-8", errors="replace").read().split("\n")):
            if start is None:
                start = n + 1
            if phys.endswith("\\"):
                buf += phys[:-1] + " "
                continue
            logical.append((start, buf + phys))
            buf, start = "", None
        for line, text in logical:
            m = ANY_INCLUDE.match(text)
            if m and not re.match(r'\s*[<"]', m.group(1)):
                errors.append(f"{rel}:{line}: #include{m.group(1)}: a computed include (the "
                              "check cannot follow it: name the header)")
        for line, text in logical:
            m = INCLUDE.match(text)
            if not m:
                continue
            inc = m.group(1)
            where = f"{rel}:{line}: #include \"{inc}\""
            parts = inc.split("/")
            if len(parts) == 1:
                # a system header, a file of this module's own folder, or
                # (in the program) a lower program module's header
                if os.path.exists(os.path.join(os.path.dirname(f), inc)):
                    continue
                if inc == "prismio.h":
                    if mod not in PROGRAM:
                        errors.append(f"{where}: the umbrella header is for programs")
                    continue
                # (the program's folders are on its include path: <x.h>
                # finds them as well as "x.h")
                found = [p for p in sorted(PROGRAM) if os.path.exists(os.path.join(root, "src", p, inc))]
                if '"' not in m.group(0) and not found:
                    continue  # a system header
                if found and mod not in PROGRAM:
                    errors.append(f"{where}: the library uses no header of the program "
                                  f"('{found[0]}')")
                elif mod in PROGRAM and found:
                    if not below(mod, found[0]) or found[0] == mod:
                        errors.append(f"{where}: '{mod}' uses '{found[0]}', which is not below it")
                    elif inc != f"{found[0]}.h":
                        errors.append(f"{where}: private header of '{found[0]}' (only "
                                      f"{found[0]}.h is for other modules)")
                else:
                    errors.append(f"{where}: no such file beside it")
                continue
            if parts[0] == "prismio" and len(parts) == 2:
                owner = PUBLIC.get(parts[1])
                if owner is None:
                    errors.append(f"{where}: public header owned by no module (add it to PUBLIC)")
                elif not below(mod, owner) and mod not in PROGRAM:
                    errors.append(f"{where}: '{mod}' uses '{owner}', which is not below it")
                continue
            if parts[0] in LEVEL and len(parts) == 2:
                other = parts[0]
                if other == mod:
                    continue
                if mod in PROGRAM or other in PROGRAM:
                    errors.append(f"{where}: the program uses the public API only, and its own "
                                  "modules by bare name")
                elif not below(mod, other):
                    errors.append(f"{where}: '{mod}' uses '{other}', which is not below it")
                elif parts[1] != f"pio_{other}.h":
                    errors.append(
                        f"{where}: private header of '{other}' (only pio_{other}.h is for other modules)"
                    )
                continue
            # <sys/uio.h>, <linux/...>: system headers
            if m.group(0).find("<") < 0:
                errors.append(f"{where}: unknown header")


def nm(path):
    out = subprocess.run(["nm", "-P", path], capture_output=True, text=True, check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        f = line.split()
        if len(f) < 2 or f[0].endswith(":"):
            continue
        name, kind = f[0], f[1]
        if kind == "U":
            undefined.add(name)
        elif kind.isupper() and kind not in "NUW" or kind in "VW" and len(f) > 2:
            defined.add(name)
    return defined, undefined


def object_module(obj):
    # .../CMakeFiles/prismio_obj.dir/src/<module>/<file>.c.o
    p = obj.replace("\\", "/")
    m = re.search(r"/src/([^/]+)/([^/]+?)\.(c|S)\.o$", p)
    return (m.group(1), f"src/{m.group(1)}/{m.group(2)}.{m.group(3)}") if m else (None, p)


def check_calls(objects, errors):
    owner, uses, mods = {}, {}, {}
    for o in objects:
        mod, name = object_module(o)
        if mod is None:
            continue
        d, u = nm(o)
        mods[name] = mod
        uses[name] = u
        for s in d:
            owner[s] = name
    edges = {n: set() for n in uses}
    for n, u in uses.items():
        for s in sorted(u):
            f = owner.get(s)
            if f is None or f == n:
                continue
            edges[n].add(f)
            a, b = mods[n], mods[f]
            if a != b and not below(a, b):
                errors.append(f"{n}: uses {s} of {f}: '{a}' uses '{b}', which is not below it")
    # file-level cycles (Tarjan's strongly connected components)
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    for c in comps:
        errors.append("file-level cycle: " + " <-> ".join(c))


def check_symbols(lib, errors):
    d, _ = nm(lib)
    for s in sorted(d):
        # what sanitizers add (ODR indicators, instrumentation) is not ours
        if s.startswith(("__odr_asan", "__asan", "__ubsan", "__tsan", "__sanitizer")):
            continue
        if not s.startswith("pio_"):
            errors.append(f"{os.path.basename(lib)}: global symbol '{s}' lacks the pio_ prefix")


def self_test():
    """Plant one violation of each kind in a scratch tree: each must be
    reported (so the check cannot silently stop seeing them), and a clean
    file must not be."""
    import tempfile
    planted = {
        "src/pipeline/up.c": '#include "formats/pio_formats.h"\n',
        "src/pipeline/private.c": '#include "format/holo_internal.h"\n',
        "src/pipeline/public_up.c": '#include "prismio/convert.h"\n',
        "src/format/computed.c": '#define H "formats/formats_internal.h"\n#include H\n',
        "src/format/continued.c": '# include \\\n "pipeline/pio_pipeline.h"\n',
        "src/cli/prog_private.c": '#include "bench_common.h"\n',
        "src/benchcli/prog_up.c": '#include "cli.h"\n',
        "python/src/lib.c": '#include "format/pio_format.h"\n',
        "src/newmod/x.c": "int x;\n",
        "src/cli/angle.c": "#include <bench_common.h>\n",
        "src/pipeline/prog.c": "#include <clikit.h>\n",
        "src/format/unknown.c": '#include "nowhere.h"\n',
        "src/format/umbrella.c": "#include <prismio.h>\n",
        "src/format/orphan.c": '#include "prismio/nobody.h"\n',
        "src/format/lineno.c": '#define A \\\n  1\n#include "pipeline/pio_pipeline.h"\n',
    }
    clean = {
        "src/formats/ok.c": '#include "pipeline/pio_pipeline.h"\n#include "prismio/holo.h"\n'
                            "#include <stdio.h>\n",
        "src/cli/ok.c": '#include "benchcli.h"\n#include "clikit.h"\n#include <prismio.h>\n',
        "src/benchcli/benchcli.h": "", "src/benchcli/bench_common.h": "",
        "src/clikit/clikit.h": "", "src/cli/cli.h": "",
        "src/format/holo_internal.h": "", "src/format/pio_format.h": "",
        "src/formats/pio_formats.h": "", "src/pipeline/pio_pipeline.h": "",
        "src/formats/formats_internal.h": "",
    }
    with tempfile.TemporaryDirectory() as root:
        for name, text in {**planted, **clean}.items():
            os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
            with open(os.path.join(root, name), "w") as f:
                f.write(text)
        errors = []
        check_includes(root, errors)
    bad = []
    for name in planted:
        if not any(e.startswith(name) for e in errors):
            bad.append(f"self-test: the violation planted in {name} was not reported")
    if not any(e.startswith("src/format/lineno.c:3:") for e in errors):
        bad.append("self-test: a violation after a continued line is reported on another line")
    bad += self_test_objects()
    for name in clean:
        for e in errors:
            if e.startswith(name):
                bad.append(f"self-test: a clean file was reported: {e}")
    return bad


def self_test_objects():
    """The object-file checks on objects compiled here (skipped without a C
    compiler): an upward call, a file-level cycle inside a module, and a
    global symbol without the prefix must each be reported."""
    import shutil
    import tempfile
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc or not shutil.which("ar"):
        return []
    files = {
        "src/format/low.c": "int pio__up(void); int pio__low(void) { return pio__up(); }\n",
        "src/pipeline/high.c": "int pio__up(void) { return 1; }\n",
        "src/io/a.c": "int pio__b(void); int pio__a(void) { return pio__b(); }\n",
        "src/io/b.c": "int pio__a(void); int pio__b(void) { return pio__a() + 1; }\n",
        "src/io/c.c": "int xtc_open(void) { return 0; }\n",
    }
    bad = []
    with tempfile.TemporaryDirectory() as root:
        objs = []
        for name, text in files.items():
            c = os.path.join(root, name)
            os.makedirs(os.path.dirname(c), exist_ok=True)
            with open(c, "w") as f:
                f.write(text)
            o = c + ".o"
            if subprocess.run([cc, "-c", c, "-o", o], capture_output=True).returncode != 0:
                return [f"self-test: {cc} cannot compile {name}"]
            objs.append(o)
        lib = os.path.join(root, "libt.a")
        subprocess.run(["ar", "rcs", lib] + objs, check=True, capture_output=True)
        errors = []
        check_calls(objs, errors)
        check_symbols(lib, errors)
    for what, key in (("an upward call", "uses pio__up"), ("a file-level cycle", "cycle"),
                      ("a symbol without the prefix", "'xtc_open'")):
        if not any(key in e for e in errors):
            bad.append(f"self-test: {what} was not reported ({errors})")
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--objects", default="", help="the library's object files, ';'-separated")
    ap.add_argument("--static-lib")
    a = ap.parse_args()
    errors = self_test()
    check_includes(a.root, errors)
    objects = [o for o in re.split(r"[;:]", a.objects) if o]
    if objects:
        check_calls(objects, errors)
    if a.static_lib:
        check_symbols(a.static_lib, errors)
    for e in errors:
        print(e)
    checked = "includes" + (", calls" if objects else "") + (", symbols" if a.static_lib else "")
    print(f"check_layers: {checked}: {len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
