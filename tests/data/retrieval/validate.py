#!/usr/bin/env python3
"""Validate the retrieval evaluation set (stdlib only).

    python3 tests/data/retrieval/validate.py [DIR]

Checks catalog.json and queries.jsonl against the rules in README.md, prints
the counts, and exits non-zero when any rule is broken.
"""
import collections
import hashlib
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DIR = sys.argv[1] if len(sys.argv) > 1 else HERE

STYLES = ["colloquial", "typo", "slang", "english", "cross_lingual", "paraphrase"]
EN_STYLES = {"english", "cross_lingual"}
SPLITS = ["tune", "heldout"]
TUNE_SHARE = 0.6

MIN_PRODUCTS = 52
MIN_CATEGORIES = 6
BRANDS_RANGE = (4, 6)
ATTRS_RANGE = (4, 8)
FAQ_RANGE = (5, 8)
FAQ_NULL_EN_SHARE = (0.25, 0.35)  # "about 30%"
MIN_QUERIES = 320
MIN_ZH_SHARE = 0.60
MIN_PER_STYLE = {"cross_lingual": 40, "typo": 50, "paraphrase": 50}
MIN_QUERIES_PER_PRODUCT = 3
OFF_STAGE_SHARE = (0.20, 0.30)  # "~25%"
MAX_VERBATIM_TUNE = 0.10

# Absolute advertising terms the catalog must not contain (广告法).
BANNED = ["最", "第一", "国家级", "100%", "绝对"]

CJK = re.compile(r"[\u4e00-\u9fff]")
ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# Bigrams too generic to count as a shared keyword between a paraphrase and the
# FAQ question variants it answers.
GENERIC_BIGRAMS = {
    "可以", "能不", "不能", "会不", "不会", "是不", "不是", "有没", "没有", "什么",
    "怎么", "多少", "多久", "一下", "这个", "那个", "吗", "么", "还是", "的话", "一个",
}

errors = []


def err(msg):
    errors.append(msg)


def norm(s):
    """Lower-case and drop everything but letters, digits and CJK."""
    return "".join(ch for ch in s.lower() if ch.isalnum())


def cjk_bigrams(s):
    out = set()
    for run in re.findall(r"[\u4e00-\u9fff]+", s):
        out.update(run[i:i + 2] for i in range(len(run) - 1))
    return out - GENERIC_BIGRAMS


def sha1(s):
    return hashlib.sha1(s.encode("utf-8")).hexdigest()


def walk_strings(x):
    if isinstance(x, str):
        yield x
    elif isinstance(x, dict):
        for v in x.values():
            yield from walk_strings(v)
    elif isinstance(x, list):
        for v in x:
            yield from walk_strings(v)


# ---------------------------------------------------------------- catalog
try:
    with open(os.path.join(DIR, "catalog.json"), encoding="utf-8") as f:
        catalog = json.load(f)
except (OSError, ValueError) as e:
    sys.exit(f"FAIL catalog.json: {e}")

brands = catalog.get("brands", [])
products = catalog.get("products", [])
brand_ids = [b.get("id") for b in brands]
for dup in {i for i in brand_ids if brand_ids.count(i) > 1}:
    err(f"duplicate brand id {dup}")
for b in brands:
    for k in ("id", "name", "name_en"):
        if not isinstance(b.get(k), str) or not b.get(k):
            err(f"brand {b.get('id')}: missing {k}")
if not BRANDS_RANGE[0] <= len(brands) <= BRANDS_RANGE[1]:
    err(f"{len(brands)} brands, want {BRANDS_RANGE[0]}-{BRANDS_RANGE[1]}")

entries = {}  # entry id -> {"product": pid, "answer_en": str|None, "questions": [...]}
seen_pids, seen_faq = set(), set()
faq_total = faq_null_en = 0
categories = collections.Counter()
brand_use = collections.Counter()
for p in products:
    pid = p.get("id")
    where = f"product {pid}"
    if not isinstance(pid, str) or not ID_RE.match(pid):
        err(f"{where}: id is not a slug")
        continue
    if pid in seen_pids:
        err(f"duplicate product id {pid}")
    seen_pids.add(pid)
    if p.get("brand_id") not in brand_ids:
        err(f"{where}: unknown brand_id {p.get('brand_id')}")
    brand_use[p.get("brand_id")] += 1
    for k in ("name", "name_en", "category"):
        if not isinstance(p.get(k), str) or not p.get(k):
            err(f"{where}: missing {k}")
    categories[p.get("category")] += 1
    if not isinstance(p.get("aliases"), list) or not p["aliases"]:
        err(f"{where}: aliases must be a non-empty list")
    price, promo, stock = p.get("price"), p.get("promo_price"), p.get("stock")
    if not isinstance(price, (int, float)) or price <= 0:
        err(f"{where}: bad price {price}")
    if promo is not None and (not isinstance(promo, (int, float)) or promo <= 0 or promo > price):
        err(f"{where}: bad promo_price {promo}")
    if not isinstance(stock, int) or stock < 0:
        err(f"{where}: bad stock {stock}")
    entries[f"{pid}#price"] = {"product": pid, "answer_en": "synth", "questions": []}
    entries[f"{pid}#stock"] = {"product": pid, "answer_en": "synth", "questions": []}

    attrs = p.get("attributes", [])
    if not ATTRS_RANGE[0] <= len(attrs) <= ATTRS_RANGE[1]:
        err(f"{where}: {len(attrs)} attributes, want {ATTRS_RANGE[0]}-{ATTRS_RANGE[1]}")
    attr_names = set()
    for a in attrs:
        for k in ("name", "name_en", "value", "value_en"):
            if not isinstance(a.get(k), str) or not a.get(k):
                err(f"{where}: attribute missing {k}: {a}")
        if a.get("name_en") in attr_names:
            err(f"{where}: duplicate attribute name_en {a.get('name_en')}")
        attr_names.add(a.get("name_en"))
        entries[f"{pid}#attr:{a.get('name_en')}"] = {
            "product": pid, "answer_en": "synth", "questions": [a.get("name", "")]}

    pitch = p.get("pitch", [])
    if not pitch or not all(isinstance(s, dict) and s.get("facet") and s.get("sentences") for s in pitch):
        err(f"{where}: pitch needs at least one facet with sentences")

    faqs = p.get("faq", [])
    if not FAQ_RANGE[0] <= len(faqs) <= FAQ_RANGE[1]:
        err(f"{where}: {len(faqs)} FAQ entries, want {FAQ_RANGE[0]}-{FAQ_RANGE[1]}")
    for q in faqs:
        fid = q.get("id")
        if not isinstance(fid, str) or not re.fullmatch(re.escape(pid) + r"-faq-\d+", fid):
            err(f"{where}: FAQ id {fid!r} is not <product-id>-faq-N")
        if fid in seen_faq:
            err(f"duplicate FAQ id {fid}")
        seen_faq.add(fid)
        qs = q.get("questions")
        if not isinstance(qs, list) or not qs or not all(isinstance(x, str) and x for x in qs):
            err(f"{fid}: questions must be a non-empty list of strings")
            qs = []
        if not isinstance(q.get("answer"), str) or not q.get("answer"):
            err(f"{fid}: missing answer")
        if "answer_en" not in q:
            err(f"{fid}: answer_en must be present (string or null)")
        ans_en = q.get("answer_en")
        faq_total += 1
        if ans_en is None:
            faq_null_en += 1
            for x in qs:
                if not CJK.search(x):
                    err(f"{fid}: answer_en is null but question {x!r} is not Chinese")
        elif not isinstance(ans_en, str) or not ans_en:
            err(f"{fid}: answer_en must be a non-empty string or null")
        entries[fid] = {"product": pid, "answer_en": ans_en, "questions": qs}

for s in walk_strings(catalog):
    for term in BANNED:
        if term in s:
            err(f"catalog uses banned absolute term {term!r}: {s}")

if len(products) < MIN_PRODUCTS:
    err(f"{len(products)} products, want >= {MIN_PRODUCTS}")
if len(categories) < MIN_CATEGORIES:
    err(f"{len(categories)} categories, want >= {MIN_CATEGORIES}")
for b in brand_ids:
    if brand_use[b] == 0:
        err(f"brand {b} has no products")
null_share = faq_null_en / max(faq_total, 1)
if not FAQ_NULL_EN_SHARE[0] <= null_share <= FAQ_NULL_EN_SHARE[1]:
    err(f"{null_share:.1%} of FAQ entries have answer_en null, want about 30%")

all_faq_questions = {}
for eid, e in entries.items():
    if "-faq-" in eid:
        for x in e["questions"]:
            all_faq_questions.setdefault(norm(x), eid)

# ---------------------------------------------------------------- queries
queries = []
with open(os.path.join(DIR, "queries.jsonl"), encoding="utf-8") as f:
    for n, line in enumerate(f, 1):
        if not line.strip():
            continue
        try:
            queries.append(json.loads(line))
        except ValueError as e:
            err(f"queries.jsonl line {n}: {e}")

qids = collections.Counter(q.get("id") for q in queries)
for dup, c in qids.items():
    if c > 1:
        err(f"duplicate query id {dup}")
pairs = collections.Counter((q.get("query"), q.get("product_on_stage")) for q in queries)
for (text, stage), c in pairs.items():
    if c > 1:
        err(f"query {text!r} repeated {c} times on stage {stage}")

by_style = collections.Counter()
by_lang = collections.Counter()
by_split = collections.Counter()
style_split = collections.Counter()
lang_split = collections.Counter()
per_product = collections.Counter()
off_stage = 0
verbatim = collections.Counter()
para_overlap = []
for q in queries:
    qid = q.get("id", "?")
    for k in ("id", "query", "lang", "product_on_stage", "relevant", "split", "style"):
        if k not in q:
            err(f"{qid}: missing field {k}")
    text, style, lang, split = q.get("query", ""), q.get("style"), q.get("lang"), q.get("split")
    if not isinstance(qid, str) or not re.fullmatch(r"q\d{4,}", qid):
        err(f"{qid}: id must look like q0001")
    if style not in STYLES:
        err(f"{qid}: unknown style {style}")
    if split not in SPLITS:
        err(f"{qid}: unknown split {split}")
    if lang not in ("zh", "en"):
        err(f"{qid}: lang must be zh or en")
    has_cjk = bool(CJK.search(text))
    if lang == "en" and has_cjk:
        err(f"{qid}: lang en but query has Chinese")
    if lang == "zh" and not has_cjk:
        err(f"{qid}: lang zh but query has no Chinese")
    if style in EN_STYLES and lang != "en":
        err(f"{qid}: style {style} must be English")
    by_style[style] += 1
    by_lang[lang] += 1
    by_split[split] += 1
    style_split[(style, split)] += 1
    lang_split[(lang, split)] += 1

    stage = q.get("product_on_stage")
    if stage not in seen_pids:
        err(f"{qid}: product_on_stage {stage} does not exist")
    rel = q.get("relevant")
    if not isinstance(rel, list) or not rel:
        err(f"{qid}: relevant must be a non-empty list")
        rel = []
    targets = set()
    for r in rel:
        e = entries.get(r)
        if e is None:
            err(f"{qid}: relevant id {r} does not exist")
            continue
        targets.add(e["product"])
        if style == "cross_lingual" and e["answer_en"] is not None:
            err(f"{qid}: cross_lingual query points at {r}, which has an English answer")
        if style == "english" and e["answer_en"] is None:
            err(f"{qid}: english query points at {r}, which is Chinese-only (use cross_lingual)")
    for t in targets:
        per_product[t] += 1
    if targets and stage not in targets:
        off_stage += 1

    if norm(text) in all_faq_questions:
        verbatim[split] += 1
    if style == "paraphrase":
        qb = cjk_bigrams(text)
        for r in rel:
            for v in entries.get(r, {}).get("questions", []):
                shared = qb & cjk_bigrams(v)
                if shared:
                    para_overlap.append(f"{qid}: {text!r} shares {sorted(shared)} with {r} {v!r}")

# split rule: within each style, ids ordered by sha1(id); the first round(60%) are tune.
for style in STYLES:
    grp = sorted((q for q in queries if q.get("style") == style), key=lambda q: sha1(q.get("id", "")))
    k = round(TUNE_SHARE * len(grp))
    for j, q in enumerate(grp):
        want = "tune" if j < k else "heldout"
        if q.get("split") != want:
            err(f"{q.get('id')}: split is {q.get('split')}, rule says {want}")
    for split in SPLITS:
        if style_split[(style, split)] == 0:
            err(f"style {style} has no {split} queries")

for e in para_overlap:
    err("paraphrase overlaps FAQ wording: " + e)

n = len(queries)
if n < MIN_QUERIES:
    err(f"{n} queries, want >= {MIN_QUERIES}")
if by_lang["zh"] < MIN_ZH_SHARE * n:
    err(f"{by_lang['zh']}/{n} Chinese queries, want >= {MIN_ZH_SHARE:.0%}")
for style, floor in MIN_PER_STYLE.items():
    if by_style[style] < floor:
        err(f"{by_style[style]} {style} queries, want >= {floor}")
for pid in seen_pids:
    if per_product[pid] < MIN_QUERIES_PER_PRODUCT:
        err(f"product {pid} is the target of {per_product[pid]} queries, want >= {MIN_QUERIES_PER_PRODUCT}")
if n and not OFF_STAGE_SHARE[0] <= off_stage / n <= OFF_STAGE_SHARE[1]:
    err(f"{off_stage / n:.1%} of queries ask about a product not on stage, want about 25%")
if verbatim["heldout"]:
    err(f"{verbatim['heldout']} heldout queries copy an FAQ question verbatim, want 0")
if verbatim["tune"] > MAX_VERBATIM_TUNE * by_split["tune"]:
    err(f"{verbatim['tune']} tune queries copy an FAQ question verbatim, want <= {MAX_VERBATIM_TUNE:.0%}")

# ---------------------------------------------------------------- report
print(f"brands: {len(brands)}  products: {len(products)}  categories: {len(categories)}")
print("  per category: " + ", ".join(f"{c} {k}" for k, c in sorted(categories.items())))
print("  per brand:    " + ", ".join(f"{b} {brand_use[b]}" for b in brand_ids))
synth = sum(1 for k in entries if "#" in k)
print(f"FAQ entries: {faq_total} ({faq_null_en} = {null_share:.1%} with answer_en null); "
      f"synthesized entries: {synth}")
print(f"queries: {n}  off-stage: {off_stage} ({off_stage / max(n, 1):.1%})  "
      f"verbatim FAQ copies: tune {verbatim['tune']}, heldout {verbatim['heldout']}")
print(f"  {'style':<14}{'tune':>6}{'heldout':>9}{'total':>7}")
for style in STYLES:
    print(f"  {style:<14}{style_split[(style, 'tune')]:>6}{style_split[(style, 'heldout')]:>9}{by_style[style]:>7}")
for lang in ("zh", "en"):
    print(f"  {'lang ' + lang:<14}{lang_split[(lang, 'tune')]:>6}{lang_split[(lang, 'heldout')]:>9}{by_lang[lang]:>7}"
          f"  ({by_lang[lang] / max(n, 1):.1%})")
print(f"  {'all':<14}{by_split['tune']:>6}{by_split['heldout']:>9}{n:>7}")
print(f"queries per product: min {min(per_product.values(), default=0)}, "
      f"max {max(per_product.values(), default=0)}")

if errors:
    print(f"\nFAIL: {len(errors)} problem(s)")
    for e in errors:
        print("  " + e)
    sys.exit(1)
print("\nOK")
