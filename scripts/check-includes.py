#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fails when the files below src/ import each other in a circle.

A module is a .c file and the .h of the same name (foo.c + foo.h). Module A imports module B when A's .c or
.h has `#include "b.h"`. The imports must form a directed acyclic graph: a circle means that no part of it
can be understood, tested or changed without the others (STYLE.md). Every circle is printed with the
#include lines that close it.

  scripts/check-includes.py [ROOT]      (default: src/ of this checkout)
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def modules(root):
    """name of each header -> its path; module of each source file."""
    headers, files = {}, []
    for d, _, names in os.walk(root):
        for n in sorted(names):
            if n.endswith((".c", ".h")):
                p = os.path.join(d, n)
                files.append(p)
                if n.endswith(".h"):
                    headers.setdefault(n, []).append(p)
    return headers, files


def module_of(path):
    return os.path.splitext(path)[0]


def graph(root):
    headers, files = modules(root)
    edges = {}  # module -> {module: [(file, line, text)]}
    for f in files:
        m = module_of(f)
        edges.setdefault(m, {})
        with open(f, encoding="utf-8", errors="replace") as fh:
            for no, line in enumerate(fh, 1):
                g = INCLUDE.match(line)
                if not g:
                    continue
                name = g.group(1)
                # A header next to the includer wins, as with the compiler's quote search.
                local = os.path.join(os.path.dirname(f), name)
                if os.path.exists(local):
                    target = local
                elif os.path.basename(name) in headers and len(headers[os.path.basename(name)]) == 1:
                    target = headers[os.path.basename(name)][0]
                else:
                    continue  # generated (build-config.h) or outside src/
                t = module_of(target)
                if t != m:
                    edges[m].setdefault(t, []).append((f, no, line.strip()))
    return edges


def strongly_connected(edges):
    """Tarjan's algorithm, iterative."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, {}))))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges.get(w, {})))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "src")
    root = os.path.normpath(root)
    edges = graph(root)
    circles = strongly_connected(edges)
    for comp in circles:
        names = [os.path.relpath(m, root) for m in comp]
        print(f"check-includes: import circle between {', '.join(names)}:", file=sys.stderr)
        members = set(comp)
        for m in comp:
            for t, sites in sorted(edges[m].items()):
                if t in members:
                    for f, no, text in sites:
                        print(f"  {os.path.relpath(f, root)}:{no}: {text}", file=sys.stderr)
    if circles:
        return 1
    n_edges = sum(len(t) for t in edges.values())
    print(f"check-includes: {len(edges)} modules, {n_edges} imports, no circle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
