#!/usr/bin/env python3
"""Checks that the modules of a crate import each other without cycles.

    scripts/check_module_cycles.py [SRC_DIR]      (default crates/metrics-core/src)
    scripts/check_module_cycles.py --self-test    (checks the checker on small trees)

Every `.rs` file under SRC_DIR is a module (`lib.rs` is the crate root,
`x/mod.rs` is module `x`). An edge A -> B is any `crate::...` or `super::...`
path in A's non-test code that names module B or an item defined in B (an
item re-exported by the root is followed to the module that defines it).
Test code is skipped: `#[cfg(test)]` items and files named `tests.rs`; so
are `#[deprecated]` items (compatibility shims kept at their old paths, to be
removed, such as `export::write_atomic` forwarding to `persist`).

Two graphs must be acyclic:
  * modules (files): no module uses, directly or through others, a module
    that uses it;
  * layers (the root's top-level modules): folders stack, each using only
    those below it.
Exits 1 and prints every cycle found, else prints the layer order.
"""

import os
import re
import sys



def module_of(rel):
    """Module path (tuple) of a source file relative to the source dir."""
    parts = rel[:-3].split(os.sep)
    if parts[-1] in ("lib", "main"):
        parts = parts[:-1]
    elif parts[-1] == "mod":
        parts = parts[:-1]
    return tuple(parts)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(re.sub(r"//.*", "", line) for line in text.splitlines())


def strip_items(text, marker):
    """Removes every item carrying the attribute `marker` (a `mod` block, a
    `use`, a fn)."""
    out = []
    i = 0
    while True:
        j = text.find(marker, i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        # Skip the attribute itself, brackets balanced.
        k, depth = j + 1, 0
        while k < len(text):
            depth += text[k] == "["
            depth -= text[k] == "]"
            k += 1
            if depth == 0:
                break
        # The item ends at its `;` or at the brace closing its first `{`.
        depth = 0
        while k < len(text):
            c = text[k]
            if c == ";" and depth == 0:
                k += 1
                break
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    k += 1
                    break
            k += 1
        i = k
    return "".join(out)


def use_paths(text):
    """Every path starting with `crate::` or `super::`, use trees expanded."""
    paths = []
    for m in re.finditer(r"\buse\s+((?:crate|super|self)::[^;]*);", text, flags=re.S):
        paths.extend(expand(re.sub(r"\s+", "", m.group(1))))
    for m in re.finditer(r"(?<![\w:])((?:crate|super)(?:::\w+)+)", text):
        paths.append(m.group(1).split("::"))
    return paths


def expand(tree):
    """`a::{b, c::{d}}` -> [[a, b], [a, c, d]]."""
    brace = tree.find("{")
    if brace < 0:
        tree = re.sub(r"\bas\b.*$", "", tree.replace("as", " as ")).strip()
        return [[p for p in tree.split("::") if p]]
    prefix = [p for p in tree[:brace].split("::") if p]
    inner = tree[brace + 1 : tree.rindex("}")]
    parts, depth, cur = [], 0, ""
    for c in inner:
        if c == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += c == "{"
        depth -= c == "}"
        cur += c
    parts.append(cur)
    result = []
    for part in parts:
        if part.strip():
            result.extend(prefix + sub for sub in expand(part))
    return result


def check(ROOT_DIR, quiet=False):
    modules = {}
    for dirpath, _, names in os.walk(ROOT_DIR):
        for name in names:
            if not name.endswith(".rs") or name == "tests.rs":
                continue
            rel = os.path.relpath(os.path.join(dirpath, name), ROOT_DIR)
            with open(os.path.join(dirpath, name), encoding="utf-8") as f:
                text = strip_comments(f.read())
                text = strip_items(strip_items(text, "#[cfg(test)]"), "#[deprecated")
                modules[module_of(rel)] = text
    # Items each module re-exports (`pub use a::b::C;`), so that a path
    # through a re-export leads to the module that defines the item.
    exports = {}
    for module, text in modules.items():
        table = exports.setdefault(module, {})
        for m in re.finditer(r"\bpub(?:\([\w:]+\))?\s+use\s+([^;]*);", text, flags=re.S):
            for path in expand(re.sub(r"\s+", "", m.group(1))):
                if path and path[-1] != "*":
                    table[path[-1]] = path

    def resolve(module, path, depth=0):
        """The module a path names, or that defines the item it names."""
        if path[0] == "crate":
            base, rest = (), path[1:]
        elif path[0] == "self":
            base, rest = module, path[1:]
        else:
            base = module
            while path and path[0] == "super":
                base = base[:-1]
                path = path[1:]
            rest = path
        current = base
        for seg in rest:
            if seg in ("*", "self"):
                break
            if current + (seg,) in modules:
                current = current + (seg,)
            else:
                target = exports.get(current, {}).get(seg)
                if target is not None and depth < 8:
                    if target[0] not in ("crate", "super", "self"):
                        target = ["self"] + target
                    return resolve(current, target, depth + 1)
                break
        return current

    edges = {m: set() for m in modules}
    for module, text in modules.items():
        if module == ():
            continue
        for path in use_paths(text):
            target = resolve(module, path)
            # A module's own items, and its children (declared by `mod`), are not edges.
            if target != module and target != () and target[: len(module)] != module:
                edges[module].add(target)

    def cycles(graph):
        found, state, stack = [], {}, []

        def visit(n):
            state[n] = 1
            stack.append(n)
            for m in sorted(graph.get(n, ())):
                if state.get(m) == 1:
                    found.append(stack[stack.index(m) :] + [m])
                elif m not in state:
                    visit(m)
            stack.pop()
            state[n] = 2

        for n in sorted(graph):
            if n not in state:
                visit(n)
        return found

    def name(m):
        return "::".join(m) or "crate"

    failed = False
    for cycle in cycles(edges):
        failed = True
        if not quiet:
            print("module cycle: " + " -> ".join(name(m) for m in cycle))
    layers = {}
    for module, targets in edges.items():
        if module:
            layers.setdefault(module[0], set()).update(t[0] for t in targets if t and t[0] != module[0])
    for cycle in cycles(layers):
        failed = True
        if not quiet:
            print("layer cycle: " + " -> ".join(cycle))
    if failed:
        return 1
    if quiet:
        return 0
    order, placed = [], set()
    while len(placed) < len(layers):
        ready = sorted(l for l in layers if l not in placed and layers[l] <= placed)
        order.append(" ".join(ready))
        placed.update(ready)
    print(f"{ROOT_DIR}: {len(modules)} modules, no import cycle; layers from the bottom:")
    for i, row in enumerate(order):
        print(f"  {i}: {row}")
    return 0


def self_test():
    """Small trees with a known answer: the checker must tell them apart."""
    import tempfile

    cases = [
        ("a cycle between two files", 1, {
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": "use crate::b::B;\npub struct A;\n",
            "b.rs": "use crate::a::A;\npub struct B;\n",
        }),
        ("a cycle through a root re-export", 1, {
            "lib.rs": "mod a;\nmod b;\npub use b::B;\n",
            "a.rs": "use crate::B;\npub struct A;\n",
            "b.rs": "pub struct B(crate::a::A);\n",
        }),
        ("a cycle between folders only", 1, {
            "lib.rs": "mod x;\nmod y;\n",
            "x/mod.rs": "mod one;\nmod two;\n",
            "x/one.rs": "use crate::y::low::L;\n",
            "x/two.rs": "pub struct T;\n",
            "y/mod.rs": "pub(crate) mod low;\nmod high;\n",
            "y/low.rs": "pub struct L;\n",
            "y/high.rs": "use crate::x::two::T;\n",
        }),
        ("layers used one way, tests and deprecated shims aside", 0, {
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": "pub struct A;\n#[cfg(test)]\nmod tests {\n    use crate::b::B;\n}\n"
                    "#[deprecated(note = \"x\")]\npub fn old() { crate::b::f() }\n",
            "b.rs": "use crate::a::A;\npub fn f() {}\n",
        }),
    ]
    bad = 0
    for title, expected, files in cases:
        with tempfile.TemporaryDirectory() as root:
            for path, text in files.items():
                os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
                with open(os.path.join(root, path), "w", encoding="utf-8") as f:
                    f.write(text)
            got = check(root, quiet=True)
        status = "ok" if got == expected else "WRONG"
        bad += got != expected
        print(f"self-test {status}: {title} (exit {got}, expected {expected})")
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(self_test())
    sys.exit(check(sys.argv[1] if len(sys.argv) > 1 else "crates/metrics-core/src"))
