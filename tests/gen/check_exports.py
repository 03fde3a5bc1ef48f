#!/usr/bin/python3
"""libeeclient.so exports exactly its public API and carries its SONAME.

usage: check_exports.py LIBRARY SOURCE_DIR EXPECTED_SONAME

The oracle is the installed headers, not the library: every dynamic symbol the library
defines (nm -D --defined-only) must be
  - an ee_ function declared with EE_API in src/include/ee/*.h, or
  - a name the generated message headers gen/pb-c/**/*.pb-c.h declare (descriptors,
    __init, pack/unpack/get_packed_size/free_unpacked, service stubs), or
  - one of the few symbols the linker itself defines.
Conversely every EE_API function must be exported (a missing EE_API would hide it from
programs that link the shared library). readelf -d must show SONAME = EXPECTED_SONAME.
"""
import glob
import os
import re
import subprocess
import sys

# Defined by the toolchain in any shared object, not by our code.
LINKER_SYMBOLS = {"_init", "_fini", "_edata", "_end", "__bss_start"}


def strip_comments(text):
    return re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)


def public_functions(src):
    """EE_API function names, and the ee_ function declarations that lack EE_API."""
    names, unmarked = set(), []
    for path in glob.glob(os.path.join(src, "src/include/ee/*.h")):
        if os.path.basename(path) == "nanopb.h":
            continue  # the static ee_nanopb library's API, not libeeclient.so's
        with open(path, encoding="utf-8") as f:
            text = strip_comments(f.read())
        text = re.sub(r"^\s*#.*?(?<!\\)$", " ", text, flags=re.M | re.S)  # macros
        # File-scope statements: text between ';', '{' and '}'. A function declaration is
        # "[EE_API] <return type> ee_name(", the type being words and '*'.
        for stmt in re.split(r"[;{}]", text):
            m = re.match(r"\s*(EE_API\s+)?(?:const\s+|struct\s+)?\w+[\s*]+(ee_\w+)\s*\(", stmt)
            # A function-pointer typedef ("typedef ee_code (*fn)(...)") is no declaration.
            if not m or re.match(r"\s*typedef\b", stmt):
                continue
            if m.group(1):
                names.add(m.group(2))
            else:
                unmarked.append(f"{os.path.basename(path)}: {m.group(2)}")
    return names, unmarked


def generated_names(src):
    names = set()
    for path in glob.glob(os.path.join(src, "gen/pb-c/**/*.pb-c.h"), recursive=True):
        with open(path, encoding="utf-8") as f:
            names.update(re.findall(r"\b(google__\w+)\b", strip_comments(f.read())))
        # protoc-c defines each service's method index table without `static` and without
        # declaring it; the service descriptor in the header points at it.
        for service in re.findall(r"\b(google__\w+)__descriptor\b", " ".join(names)):
            names.add(service + "__method_indices_by_name")
    return names


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True, capture_output=True,
                         text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            syms[parts[2].split("@")[0]] = parts[1]
    return syms


def soname(lib):
    out = subprocess.run(["readelf", "-d", lib], check=True, capture_output=True,
                         text=True).stdout
    m = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", out)
    return m.group(1) if m else None


def main():
    lib, src, want_soname = sys.argv[1:4]
    api, unmarked = public_functions(src)
    gen = generated_names(src)
    if len(api) < 40 or len(gen) < 100:
        sys.exit(f"FAIL: header scan found only {len(api)} EE_API functions and "
                 f"{len(gen)} generated names; the scan is broken")
    syms = exported(lib)
    failures = [f"public declaration without EE_API: {u}" for u in unmarked]
    stray = sorted(s for s in syms if s not in api and s not in gen and s not in LINKER_SYMBOLS)
    for s in stray:
        why = "internal (eei_)" if s.startswith("eei_") else "not declared in a public header"
        failures.append(f"exported but {why}: {s} ({syms[s]})")
    for s in sorted(api - syms.keys()):
        failures.append(f"EE_API in a public header but not exported: {s}")
    got_soname = soname(lib)
    if got_soname != want_soname:
        failures.append(f"SONAME is {got_soname!r}, expected {want_soname!r}")
    n_ee = sum(1 for s in syms if s in api)
    n_gen = sum(1 for s in syms if s in gen)
    print(f"{lib}: {len(syms)} exported ({n_ee} ee_ API, {n_gen} generated message API, "
          f"{len(syms) - n_ee - n_gen - len(stray)} linker), SONAME {got_soname}")
    if failures:
        print("\n".join("FAIL: " + f for f in failures))
        sys.exit(1)
    print("ok: only the public API is exported")


if __name__ == "__main__":
    main()
