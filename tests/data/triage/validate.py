#!/usr/bin/env python3
"""Validate the comment-triage data set (stdlib only).

Usage: python3 validate.py [path/to/comments.jsonl]

Checks (any failure -> exit status 1):
  * every line is a JSON object with exactly: id, text, lang, intent, split (all strings)
  * ids look like c00001 and are unique
  * intent / lang / split use the fixed label sets
  * text is non-empty and has no leading/trailing whitespace
  * no duplicate texts: neither after removing all whitespace, nor after the
    stricter key (NFKC + casefold + no whitespace), which also catches
    full-width / case variants of the same comment
  * no text (by either key) shared between train and heldout
  * split matches the documented rule (see README.md, "Split rule")
  * at least 2,000 lines; every intent has >= 120 lines and >= 35 heldout
Prints the count table intent x split x lang.
"""

import collections
import hashlib
import json
import os
import re
import sys
import unicodedata

INTENTS = [
    "product_question", "price_ask", "stock_ask", "purchase_intent", "complaint",
    "praise", "greeting", "spam", "abuse", "other",
]
LANGS = ["zh", "en"]
SPLITS = ["train", "heldout"]
KEYS = {"id", "text", "lang", "intent", "split"}
MIN_LINES = 2000
MIN_PER_INTENT = 120
MIN_HELDOUT_PER_INTENT = 35
HELDOUT_FRACTION = 0.3


def ws_key(text):
    return re.sub(r"\s+", "", text)


def norm_key(text):
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text).casefold())


def expected_splits(rows):
    """The split rule: within each (intent, lang) group, order rows by the sha1
    hex digest of their id; the first round(0.3 * n) are heldout, the rest train."""
    groups = collections.defaultdict(list)
    for r in rows:
        groups[(r["intent"], r["lang"])].append(r)
    want = {}
    for g in groups.values():
        g = sorted(g, key=lambda r: hashlib.sha1(r["id"].encode("utf-8")).hexdigest())
        k = round(HELDOUT_FRACTION * len(g))
        for i, r in enumerate(g):
            want[r["id"]] = "heldout" if i < k else "train"
    return want


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "comments.jsonl")
    errors = []

    def err(msg):
        errors.append(msg)

    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                err(f"line {n}: blank line")
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                err(f"line {n}: invalid JSON ({e})")
                continue
            if not isinstance(obj, dict):
                err(f"line {n}: not a JSON object")
                continue
            if set(obj) != KEYS:
                err(f"line {n}: keys {sorted(obj)} != {sorted(KEYS)}")
                continue
            if not all(isinstance(obj[k], str) for k in KEYS):
                err(f"line {n}: every field must be a string")
                continue
            obj["_line"] = n
            rows.append(obj)

    ids = collections.Counter(r["id"] for r in rows)
    for i, c in ids.items():
        if c > 1:
            err(f"id {i} used {c} times")
    for r in rows:
        n = r["_line"]
        if not re.fullmatch(r"c\d{5}", r["id"]):
            err(f"line {n}: malformed id {r['id']!r}")
        if r["intent"] not in INTENTS:
            err(f"line {n}: unknown intent {r['intent']!r}")
        if r["lang"] not in LANGS:
            err(f"line {n}: unknown lang {r['lang']!r}")
        if r["split"] not in SPLITS:
            err(f"line {n}: unknown split {r['split']!r}")
        if not r["text"].strip():
            err(f"line {n}: empty text")
        elif r["text"] != r["text"].strip():
            err(f"line {n}: text has leading/trailing whitespace")

    for keyname, keyfn in (("whitespace-stripped", ws_key), ("NFKC/casefold", norm_key)):
        seen = {}
        for r in rows:
            k = keyfn(r["text"])
            if k in seen:
                o = seen[k]
                where = "across splits" if o["split"] != r["split"] else "within " + r["split"]
                err(f"line {r['_line']}: duplicate text ({keyname}, {where}) of line "
                    f"{o['_line']}: {r['text']!r} ~ {o['text']!r}")
            else:
                seen[k] = r

    if len(ids) == len(rows) and all(r["intent"] in INTENTS and r["lang"] in LANGS for r in rows):
        want = expected_splits(rows)
        bad = [r for r in rows if r["split"] != want[r["id"]]]
        for r in bad[:20]:
            err(f"line {r['_line']}: split {r['split']!r} but the rule gives {want[r['id']]!r}")
        if len(bad) > 20:
            err(f"... and {len(bad) - 20} more split-rule mismatches")

    if len(rows) < MIN_LINES:
        err(f"only {len(rows)} lines (need >= {MIN_LINES})")
    cnt = collections.Counter((r["intent"], r["split"], r["lang"]) for r in rows)
    for it in INTENTS:
        total = sum(v for (i, _, _), v in cnt.items() if i == it)
        held = sum(v for (i, s, _), v in cnt.items() if i == it and s == "heldout")
        if total < MIN_PER_INTENT:
            err(f"intent {it}: {total} lines (need >= {MIN_PER_INTENT})")
        if held < MIN_HELDOUT_PER_INTENT:
            err(f"intent {it}: {held} heldout (need >= {MIN_HELDOUT_PER_INTENT})")

    # count table
    cols = [(s, l) for s in SPLITS for l in LANGS]
    head = f"{'intent':<17}" + "".join(f"{s[:5] + '/' + l:>11}" for s, l in cols) + f"{'train':>8}{'heldout':>9}{'total':>8}"
    print(head)
    print("-" * len(head))
    tot = collections.Counter()
    for it in INTENTS:
        vals = [cnt[(it, s, l)] for s, l in cols]
        tr = sum(cnt[(it, "train", l)] for l in LANGS)
        ho = sum(cnt[(it, "heldout", l)] for l in LANGS)
        for c, v in zip(cols, vals):
            tot[c] += v
        print(f"{it:<17}" + "".join(f"{v:>11}" for v in vals) + f"{tr:>8}{ho:>9}{tr + ho:>8}")
    print("-" * len(head))
    tr = sum(tot[("train", l)] for l in LANGS)
    ho = sum(tot[("heldout", l)] for l in LANGS)
    print(f"{'all':<17}" + "".join(f"{tot[c]:>11}" for c in cols) + f"{tr:>8}{ho:>9}{tr + ho:>8}")
    if rows:
        zh = sum(1 for r in rows if r["lang"] == "zh")
        print(f"\nlines {len(rows)}; zh {zh} ({zh / len(rows):.1%}), en {len(rows) - zh} "
              f"({(len(rows) - zh) / len(rows):.1%}); heldout {ho / len(rows):.1%}")

    if errors:
        print(f"\nFAIL: {len(errors)} problem(s)", file=sys.stderr)
        for e in errors[:200]:
            print("  " + e, file=sys.stderr)
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
