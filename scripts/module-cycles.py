#!/usr/bin/env python3
# Usage: scripts/module-cycles.py engine/src src src-tauri/src
"""Module dependency cycles in a Rust crate, from its source text.

Each file is a module (lib.rs/main.rs the root, x/mod.rs is x). An edge A -> B is any
path in A's code (outside its #[cfg(test)] module) that names B: `crate::b::...`,
`super::...`, or a child module declared in A (`mod b;` then `b::...`), in `use`
lines, groups (`use crate::{a, b::c}`) and inline paths alike. A path resolves to
the deepest module that exists. Then, among the submodules of each module, A -> B
when anything in A's subtree names anything in B's; prints the cycles there (a
module using its own parent or children is how Rust nests, and not counted).
Exits 1 when there is a cycle.
"""
import os, re, sys

def modules(src):
    mods = {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith('.rs'):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, src)[:-3].split(os.sep)
            if rel in (['lib'], ['main']):
                name = ()
            elif rel[-1] == 'mod':
                name = tuple(rel[:-1])
            else:
                name = tuple(rel)
            mods[name] = path
    return mods

def strip(text):
    """The code without comments and string contents, cut before its #[cfg(test)] module."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith('//', i):
            j = text.find('\n', i)
            i = n if j < 0 else j
        elif text.startswith('/*', i):
            j = text.find('*/', i + 2)
            i = n if j < 0 else j + 2
        elif c == 'r' and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == '_')):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            j = text.find('"' + hashes, i + 2 + len(hashes))
            out.append('""')
            i = n if j < 0 else j + 1 + len(hashes)
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == '\\' else 1
            out.append('""')
            i = j + 1
        elif c == "'" and re.match(r"'(\\.[^']*|[^\\'])'", text[i:i + 12]):
            j = re.match(r"'(\\.[^']*|[^\\'])'", text[i:i + 12]).end()
            out.append("' '")
            i += j
        else:
            out.append(c)
            i += 1
    text = ''.join(out)
    m = re.search(r'#\[cfg\(test\)\]\s*mod\s+\w+\s*\{', text)
    return text[:m.start()] if m else text

def expand_use(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e] (rough, enough for paths)."""
    tree = tree.strip()
    m = re.match(r'^(.*?)::\{(.*)\}$', tree, flags=re.S)
    if not m:
        return [tree]
    prefix, inner = m.group(1), m.group(2)
    parts, depth, cur = [], 0, ''
    for ch in inner:
        if ch == '{': depth += 1
        if ch == '}': depth -= 1
        if ch == ',' and depth == 0:
            parts.append(cur); cur = ''
        else:
            cur += ch
    parts.append(cur)
    out = []
    for p in parts:
        if p.strip():
            out += [prefix + '::' + q for q in expand_use(p)]
    return out

def resolve(mods, here, path):
    segs = [s.strip() for s in re.split(r'::', path) if s.strip()]
    if not segs:
        return None
    if segs[0] == 'crate':
        base, rest = (), segs[1:]
    elif segs[0] == 'super':
        base = here
        while segs and segs[0] == 'super':
            base = base[:-1]; segs = segs[1:]
        rest = segs
    elif segs[0] == 'self':
        base, rest = here, segs[1:]
    elif here + (segs[0],) in mods:
        base, rest = here, segs
    else:
        return None
    target = base
    for s in rest:
        s = re.sub(r'\W.*', '', s)
        if target + (s,) in mods:
            target = target + (s,)
        else:
            break
    return target

def graph(src):
    mods = modules(src)
    edges = {m: set() for m in mods}
    for here, path in mods.items():
        text = strip(open(path).read())
        paths = []
        for m in re.finditer(r'\buse\s+([^;]+);', text):
            paths += expand_use(re.sub(r'\s+as\s+\w+', '', m.group(1)))
        paths += re.findall(r'\b((?:crate|super|self)(?:::\w+)+)', text)
        paths += re.findall(r'(?<![:\w])(\w+(?:::\w+)+)', text)
        for p in paths:
            t = resolve(mods, here, p)
            if t is not None and t != here:
                edges[here].add(t)
    return mods, edges

def sccs(edges):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)
    def visit(v):
        index[v] = low[v] = counter[0]; counter[0] += 1
        stack.append(v); on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            out.append(comp)
    for v in edges:
        if v not in index:
            visit(v)
    return out

name = lambda m: '::'.join(m) or 'crate'

def sibling_edges(mods, edges):
    """Edges between sibling subtrees: for modules A and B under one parent, A -> B
    when anything in A (or below it) names anything in B (or below it). A module
    using its own parent or children is not counted: that is how Rust nests."""
    out = {}
    for a, targets in edges.items():
        for b in targets:
            common = 0
            while common < min(len(a), len(b)) and a[common] == b[common]:
                common += 1
            if common == len(a) or common == len(b):
                continue  # one contains the other
            sa, sb = a[:common + 1], b[:common + 1]
            out.setdefault(sa, set()).add(sb)
            out.setdefault(sb, set())
            out.setdefault((sa, sb), set()).add((a, b))
    graph = {k: v for k, v in out.items() if isinstance(k[0] if k else '', str)}
    why = {k: v for k, v in out.items() if k and not isinstance(k[0], str)}
    return graph, why

status = 0
for src in sys.argv[1:]:
    mods, edges = graph(src)
    siblings, why = sibling_edges(mods, edges)
    found = [c for c in sccs(siblings) if len(c) > 1]
    print(f'{src}: {len(mods)} modules, {sum(map(len, edges.values()))} edges, '
          f'{len(found)} cycles between sibling modules')
    for comp in found:
        status = 1
        print('  cycle: ' + ', '.join(sorted(name(m) for m in comp)))
        for a in sorted(comp):
            for b in sorted(siblings[a] & set(comp)):
                detail = ', '.join(f'{name(x)} -> {name(y)}' for x, y in sorted(why[(a, b)]))
                print(f'    {name(a)} -> {name(b)}  ({detail})')
sys.exit(status)
