"""Train the comment-triage intent head and fuse it with the sentence encoder.

Reads the TRAIN split of tests/data/triage/comments.jsonl (the held-out split
is never read here), embeds each comment with the USE-m int8 encoder
(<cache>/use-m-v3, one comment per run), and trains a linear softmax head
(numpy, full batch, Adam, zero init: deterministic) on two feature blocks:

  - the 512-dim sentence embedding, scaled by EMB_SCALE;
  - hashed counts of the encoder's own SentencePiece token ids, unigrams and
    bigrams, in NGRAM_BUCKETS buckets (computed inside the graph from
    `token_ids` / `row_splits`, so callers feed nothing new).

It writes, under <cache>/triage/:
  triage-int8.onnx  encoder (int8, as prepared) + head
  triage-fp32.onnx  the same with every MatMulInteger replaced by a float
                    MatMul over the dequantized weights (the embedding
                    tables stay uint8 + DequantizeLinear after the lookup:
                    the same float values a float table would give)
  meta.json         labels, model version, near-duplicate threshold

Both graphs take `token_ids` int32 [n] and `row_splits` int64 [batch+1] (as
use-m-v3/model.onnx) and give `probs` float32 [batch, 10] and `embedding`
float32 [batch, 512].

usage: python models/train_triage.py [--cache DIR] [--data FILE]
"""
import argparse, hashlib, json, os, sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LABELS = ["product_question", "price_ask", "stock_ask", "purchase_intent", "complaint",
          "praise", "greeting", "spam", "abuse", "other"]
NGRAM_BUCKETS = 8192
UNI_MUL = 2654435761
BI_MUL = 1000003
EOS = 2
EPOCHS, LR, L2 = 300, 0.01, 1e-4
# The sentence-embedding block is scaled up against the n-gram counts before
# training (the unit-length embedding is otherwise drowned by the counts and
# held back by the same L2). Chosen by 5-fold cross-validation on the train
# split alone: macro-F1 0.797 at 1, 0.818 at 2, 0.823 at 3, 0.817 at 4. The
# scale is folded into the stored weights, so the graph is unchanged.
EMB_SCALE = 3.0


def load_train(path):
    rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    return [r for r in rows if r["split"] == "train"]


def tokenize(tok, texts):
    return [tok.encode(t, add_special_tokens=True).ids for t in texts]


def ngram_counts(ids_list):
    F = np.zeros((len(ids_list), NGRAM_BUCKETS), dtype=np.float32)
    for i, ids in enumerate(ids_list):
        for t in ids:
            F[i, (t * UNI_MUL) % NGRAM_BUCKETS] += 1
        for a, b in zip(ids, ids[1:]):
            if a != EOS:
                F[i, (a * BI_MUL + b) % NGRAM_BUCKETS] += 1
    return F


def embed(model_path, ids_list):
    import onnxruntime as ort  # the check requirements; see setup.sh
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
    out = []
    for ids in ids_list:
        a = np.array(ids, dtype=np.int32)
        out.append(s.run(["outputs"], {"token_ids": a, "row_splits": np.array([0, len(a)], dtype=np.int64)})[0][0])
    E = np.array(out, dtype=np.float32)
    return E / np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)


def train_head(X, y):
    """Class-weighted softmax regression, full-batch Adam from zeros."""
    n, d = X.shape
    counts = np.bincount(y, minlength=len(LABELS)).astype(np.float64)
    weights = (n / (len(LABELS) * np.maximum(counts, 1)))[y]
    Y = np.eye(len(LABELS))[y]
    W = np.zeros((d, len(LABELS))); b = np.zeros(len(LABELS))
    mW = np.zeros_like(W); vW = np.zeros_like(W); mb = np.zeros_like(b); vb = np.zeros_like(b)
    X64 = X.astype(np.float64)
    for t in range(1, EPOCHS + 1):
        Z = X64 @ W + b
        Z -= Z.max(1, keepdims=True)
        P = np.exp(Z); P /= P.sum(1, keepdims=True)
        G = (P - Y) * weights[:, None] / weights.sum()
        gW = X64.T @ G + L2 * W; gb = G.sum(0)
        for p, g, m, v in ((W, gW, mW, vW), (b, gb, mb, vb)):
            m *= 0.9; m += 0.1 * g
            v *= 0.999; v += 0.001 * g * g
            p -= LR * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    return W.astype(np.float32), b.astype(np.float32)


def dequantize_encoder(m):
    """MatMulInteger (+ its DynamicQuantizeLinear, Cast, scale Mul) -> float MatMul."""
    g = m.graph
    init = {t.name: t for t in g.initializer}
    prod = {o: n for n in g.node for o in n.output}
    cons = {}
    for n in g.node:
        for i in n.input:
            cons.setdefault(i, []).append(n)
    new_inits, replace = [], {}
    for n in g.node:
        if n.op_type != "MatMulInteger":
            continue
        aq, wq, _azp, wzp = n.input
        x = prod[aq].input[0]
        (cast,) = cons[n.output[0]]
        (mul,) = cons[cast.output[0]]
        smul = prod[[i for i in mul.input if i != cast.output[0]][0]]
        wscale = [i for i in smul.input if i in init][0]
        Wq = numpy_helper.to_array(init[wq]).astype(np.float32)
        zp = numpy_helper.to_array(init[wzp]).astype(np.float32)
        sc = numpy_helper.to_array(init[wscale]).astype(np.float32)
        name = wq.replace("_quantized", "_fp32")
        new_inits.append(numpy_helper.from_array((Wq - zp) * sc, name))
        replace[n.name] = helper.make_node("MatMul", [x, name], [mul.output[0]], name=n.name + "_fp32")
        replace[cast.name] = None
        replace[mul.name] = None
    nodes = [replace.get(n.name, n) if n.name in replace else n for n in g.node]
    nodes = [n for n in nodes if n is not None]
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(new_inits)
    prune(m)
    return m


def prune(m):
    g = m.graph
    prod = {o: n for n in g.node for o in n.output}
    seen, stack = set(), [o.name for o in g.output]
    while stack:
        t = stack.pop()
        if t in seen:
            continue
        seen.add(t)
        p = prod.get(t)
        if p is not None:
            stack.extend(i for i in p.input if i)
    nodes = [n for n in g.node if any(o in seen for o in n.output)]
    del g.node[:]
    g.node.extend(nodes)
    used = {i for n in g.node for i in n.input}
    keep = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)


def add_head(m, W, b, version):
    """Append the head: probs = softmax(emb @ W_emb + segsum(W_ngram[buckets]) + b)."""
    g = m.graph
    d = 512
    W_emb, W_ng = W[:d], W[d:]
    C = lambda name, arr: g.initializer.append(numpy_helper.from_array(np.asarray(arr), name))
    C("triage/W_emb", W_emb); C("triage/W_ngram", W_ng); C("triage/b", b)
    C("triage/uni_mul", np.array(UNI_MUL, dtype=np.int64)); C("triage/bi_mul", np.array(BI_MUL, dtype=np.int64))
    C("triage/buckets", np.array(NGRAM_BUCKETS, dtype=np.int64)); C("triage/eos", np.array(EOS, dtype=np.int64))
    C("triage/zero", np.array([0], dtype=np.int64)); C("triage/one", np.array([1], dtype=np.int64))
    C("triage/neg1", np.array([-1], dtype=np.int64)); C("triage/big", np.array([1 << 62], dtype=np.int64))
    C("triage/axis0", np.array([0], dtype=np.int64)); C("triage/axis1", np.array([1], dtype=np.int64))
    N = lambda op, ins, outs, **kw: g.node.append(helper.make_node(op, ins, outs, **kw))
    # unit-length sentence vector
    N("ReduceL2", ["outputs"], ["triage/norm"], axes=[1], keepdims=1)
    N("Max", ["triage/norm", "triage/eps"], ["triage/norm_eps"])
    C("triage/eps", np.array(1e-12, dtype=np.float32))
    N("Div", ["outputs", "triage/norm_eps"], ["embedding"])
    N("MatMul", ["embedding", "triage/W_emb"], ["triage/z_emb"])
    # token ids as int64, positions
    N("Cast", ["token_ids"], ["triage/ids"], to=TensorProto.INT64)
    N("Shape", ["triage/ids"], ["triage/n"])
    N("Squeeze", ["triage/n"], ["triage/n_s"])
    C("triage/zero_s", np.array(0, dtype=np.int64)); C("triage/one_s", np.array(1, dtype=np.int64))
    N("Range", ["triage/zero_s", "triage/n_s", "triage/one_s"], ["triage/pos"])
    # row membership: M[i, j] = starts[i] <= j < ends[i]
    N("Slice", ["row_splits", "triage/zero", "triage/neg1", "triage/axis0"], ["triage/starts"])
    N("Slice", ["row_splits", "triage/one", "triage/big", "triage/axis0"], ["triage/ends"])
    N("Unsqueeze", ["triage/starts"], ["triage/starts_c"], axes=[1])
    N("Unsqueeze", ["triage/ends"], ["triage/ends_c"], axes=[1])
    N("Unsqueeze", ["triage/pos"], ["triage/pos_r"], axes=[0])
    N("LessOrEqual", ["triage/starts_c", "triage/pos_r"], ["triage/ge"])
    N("Less", ["triage/pos_r", "triage/ends_c"], ["triage/lt"])
    N("And", ["triage/ge", "triage/lt"], ["triage/member_b"])
    N("Cast", ["triage/member_b"], ["triage/member"], to=TensorProto.FLOAT)  # [batch, n]
    # unigram buckets -> [n, 10]
    N("Mul", ["triage/ids", "triage/uni_mul"], ["triage/uh"])
    N("Mod", ["triage/uh", "triage/buckets"], ["triage/ub"], fmod=0)
    N("Gather", ["triage/W_ngram", "triage/ub"], ["triage/uz"], axis=0)
    # bigram buckets: pair (ids[j], ids[j+1]) belongs to token j's row; zero after </s>
    N("Slice", ["triage/ids", "triage/zero", "triage/neg1", "triage/axis0"], ["triage/a"])
    N("Slice", ["triage/ids", "triage/one", "triage/big", "triage/axis0"], ["triage/bb"])
    N("Mul", ["triage/a", "triage/bi_mul"], ["triage/am"])
    N("Add", ["triage/am", "triage/bb"], ["triage/bh"])
    N("Mod", ["triage/bh", "triage/buckets"], ["triage/bbk"], fmod=0)
    N("Gather", ["triage/W_ngram", "triage/bbk"], ["triage/bz0"], axis=0)
    N("Equal", ["triage/a", "triage/eos"], ["triage/a_eos"])
    N("Not", ["triage/a_eos"], ["triage/a_ok"])
    N("Cast", ["triage/a_ok"], ["triage/a_okf"], to=TensorProto.FLOAT)
    N("Unsqueeze", ["triage/a_okf"], ["triage/a_okc"], axes=[1])
    N("Mul", ["triage/bz0", "triage/a_okc"], ["triage/bz1"])
    C("triage/pad_pairs", np.array([0, 0, 1, 0], dtype=np.int64))
    N("Pad", ["triage/bz1", "triage/pad_pairs"], ["triage/bz"])  # one zero row: [n, 10]
    N("Add", ["triage/uz", "triage/bz"], ["triage/tz"])
    N("MatMul", ["triage/member", "triage/tz"], ["triage/z_ng"])
    N("Add", ["triage/z_emb", "triage/z_ng"], ["triage/z0"])
    N("Add", ["triage/z0", "triage/b"], ["triage/logits"])
    N("Softmax", ["triage/logits"], ["probs"], axis=1)
    del g.output[:]
    g.output.extend([
        helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", len(LABELS)]),
        helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", 512]),
    ])
    m.metadata_props.append(onnx.StringStringEntryProto(key="liveroom.triage.version", value=version))
    m.metadata_props.append(onnx.StringStringEntryProto(key="liveroom.triage.labels", value=",".join(LABELS)))
    return m


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default=os.environ.get("LIVEROOM_MODELS_DIR", os.path.join(here, "cache")))
    ap.add_argument("--data", default=os.path.join(here, "..", "tests", "data", "triage", "comments.jsonl"))
    args = ap.parse_args()
    import tokenizers
    use_dir = os.path.join(args.cache, "use-m-v3")
    out_dir = os.path.join(args.cache, "triage")
    os.makedirs(out_dir, exist_ok=True)
    rows = load_train(args.data)
    y = np.array([LABELS.index(r["intent"]) for r in rows])
    tok = tokenizers.Tokenizer.from_file(os.path.join(use_dir, "tokenizer.json"))
    ids = tokenize(tok, [r["text"] for r in rows])
    E = embed(os.path.join(use_dir, "model.onnx"), ids)
    X = np.hstack([E * EMB_SCALE, ngram_counts(ids)])
    W, b = train_head(X, y)
    train_acc = float(((X @ W + b).argmax(1) == y).mean())
    W[:E.shape[1]] *= EMB_SCALE  # the graph multiplies the unscaled embedding
    version = hashlib.sha256(W.tobytes() + b.tobytes()).hexdigest()[:12]

    # near-duplicate threshold, from the train split only: the 95th
    # percentile of each comment's highest cosine to a comment of a
    # different intent, so that "similar" rarely joins different intents
    S = E @ E.T
    diff = y[:, None] != y[None, :]
    nearest_other = np.where(diff, S, -1.0).max(1)
    threshold = round(float(np.quantile(nearest_other, 0.95)), 3)

    enc = onnx.load(os.path.join(use_dir, "model.onnx"))
    for kind in ("int8", "fp32"):
        m = onnx.ModelProto(); m.CopyFrom(enc)
        if kind == "fp32":
            m = dequantize_encoder(m)
        m = add_head(m, W, b, version)
        prune(m)
        onnx.checker.check_model(m)
        tmp = os.path.join(out_dir, f"triage-{kind}.onnx.tmp")
        onnx.save(m, tmp)
        os.replace(tmp, os.path.join(out_dir, f"triage-{kind}.onnx"))
    meta = {"version": version, "labels": LABELS, "similar_threshold": threshold,
            "train_rows": len(rows), "train_accuracy": round(train_acc, 4),
            "ngram_buckets": NGRAM_BUCKETS, "emb_scale": EMB_SCALE, "epochs": EPOCHS, "l2": L2}
    with open(os.path.join(out_dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print(f"triage head {version}: {len(rows)} train rows, train accuracy {train_acc:.3f}, similar_threshold {threshold}")


if __name__ == "__main__":
    main()
