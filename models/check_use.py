#!/usr/bin/env python3
"""Check the prepared USE multilingual v3 model and tokenizer.

0. onnxruntime/libonnxruntime.so (what ORT_DYLIB_PATH names) loads and is
   1.32.0 with C API 22.
1. tokenizer.json (`tokenizers`) gives exactly the ids that the `sentencepiece`
   package gives for the original SentencePiece model (with <s> .. </s>), on
   20 mixed zh/en/emoji strings.
2. The cut model.onnx runs in the `onnxruntime` Python package (1.32.0, the
   release whose libonnxruntime.so the Rust engine loads): unit-norm 512-dim
   embeddings, repeatable, a batch close to one-by-one (cosine > 0.99; not
   equal, see below), and Chinese paraphrases and zh/en pairs of the same
   meaning score above unrelated pairs (cosines printed).

Run: models/setup.sh --check   (or the venv's python on this file once
models/requirements-check.txt is installed). Models dir: $LIVEROOM_MODELS_DIR,
default models/cache.
"""

import os
import sys
import time

import numpy as np
import onnxruntime as ort
import sentencepiece as spm
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
DIR = os.path.join(os.environ.get("LIVEROOM_MODELS_DIR") or os.path.join(HERE, "cache"), "use-m-v3")

TOKEN_STRINGS = [
    "这款口红多少钱？",
    "主播，这个口红什么价格？",
    "What's the price of this lipstick?",
    "买它买它！！！😍😍😍",
    "666 主播太好笑了 🤣🤣",
    "请问 XL 码还有货吗",
    "包邮吗？Free shipping?",
    "今晚8点开抢，限量100件🔥",
    "  前后有空格  ",
    "中文English混合mixed文本",
    "¥99.9 包邮 ＝ 超值👍🏻",
    "ｆｕｌｌｗｉｄｔｈ １２３ 全角",
    "❤️❤️ love you 主播",
    "🇨🇳 加油",
    "👨‍👩‍👧 一家人一起看直播",
    "什么时候发货？\n明天能到吗？",
    "链接在哪里？？？",
    "this is 1 super long-ish English sentence, with punctuation; and numbers: 42!",
    "<s> 不是特殊符号 </s>",
    "",
]

PARAPHRASES = [  # zh, same meaning
    ("这款口红多少钱？", "主播，这个口红什么价格？"),
    ("什么时候发货？", "下单以后多久能发出来？"),
    ("可以包邮吗？", "这个运费是免的吗？"),
    ("这件衣服有大码吗？", "XL 码还有货吗？"),
]
UNRELATED = [
    ("这款口红多少钱？", "今天天气真好"),
    ("什么时候发货？", "我家猫咪特别可爱"),
    ("可以包邮吗？", "主播唱歌真好听"),
    ("这件衣服有大码吗？", "明天我要去上班了"),
]
CROSS = [  # zh / en, same meaning
    ("这款口红多少钱？", "How much is this lipstick?"),
    ("什么时候发货？", "When will my order ship?"),
    ("可以包邮吗？", "Is shipping free?"),
    ("主播唱歌真好听", "The host sings really well."),
]


def check_dylib():
    """The shared library the Rust `ort` crate loads (ORT_DYLIB_PATH): it must
    dlopen, report 1.32.0 and hand out API version 22 (ort's `api-22`)."""
    import ctypes

    path = os.path.join(os.path.dirname(DIR), "onnxruntime", "libonnxruntime.so")

    class OrtApiBase(ctypes.Structure):
        _fields_ = [("GetApi", ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_uint32)),
                    ("GetVersionString", ctypes.CFUNCTYPE(ctypes.c_char_p))]

    lib = ctypes.CDLL(path)
    lib.OrtGetApiBase.restype = ctypes.POINTER(OrtApiBase)
    base = lib.OrtGetApiBase().contents
    version = base.GetVersionString().decode()
    assert version == "1.32.0", version
    assert base.GetApi(22), "libonnxruntime.so gives no API 22"
    print(f"dylib: {os.path.relpath(path)} loads, version {version}, API 22 available")


def main():
    check_dylib()
    tok = Tokenizer.from_file(os.path.join(DIR, "tokenizer.json"))
    sp = spm.SentencePieceProcessor(model_file=os.path.join(DIR, "sentencepiece.model"))

    def ids(text):
        return tok.encode(text, add_special_tokens=True).ids

    assert len(TOKEN_STRINGS) == 20
    bad = 0
    for s in TOKEN_STRINGS:
        want = sp.encode(s, add_bos=True, add_eos=True)
        got = ids(s)
        if got != want:
            bad += 1
            print(f"  token MISMATCH {s!r}\n    sentencepiece {want}\n    tokenizers    {got}")
    print(f"tokenizer: {len(TOKEN_STRINGS) - bad}/{len(TOKEN_STRINGS)} strings give identical ids "
          f"(tokenizers vs sentencepiece {spm.__version__})")
    assert bad == 0, "tokenizer.json disagrees with sentencepiece"

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(os.path.join(DIR, "model.onnx"), so, providers=["CPUExecutionProvider"])
    ins = {i.name: i.type for i in sess.get_inputs()}
    outs = {o.name: (o.type, o.shape[1]) for o in sess.get_outputs()}
    assert ins == {"token_ids": "tensor(int32)", "row_splits": "tensor(int64)"}, ins
    assert outs == {"outputs": ("tensor(float)", 512)}, outs

    def embed(texts):
        encs = [ids(t) for t in texts]
        flat = np.array([i for e in encs for i in e], dtype=np.int32)
        splits = np.zeros(len(encs) + 1, dtype=np.int64)
        splits[1:] = np.cumsum([len(e) for e in encs])
        return sess.run(["outputs"], {"token_ids": flat, "row_splits": splits})[0]

    texts = sorted({t for pairs in (PARAPHRASES, UNRELATED, CROSS) for p in pairs for t in p})
    one = np.concatenate([embed([t]) for t in texts])
    again = np.concatenate([embed([t]) for t in texts])
    assert np.array_equal(one, again), "the same input gave different embeddings"
    norms = np.linalg.norm(one, axis=1)
    assert one.shape == (len(texts), 512)
    assert np.allclose(norms, 1.0, atol=1e-3), norms
    # The int8 graph quantizes activations per tensor (DynamicQuantizeLinear),
    # so a sentence's embedding depends a little on the rest of its batch
    # (the original graph does the same). Close, not equal.
    batch = embed(texts)
    batch_cos = (batch * one).sum(axis=1) / np.linalg.norm(batch, axis=1) / norms
    assert batch_cos.min() > 0.99, f"batch vs one-by-one cosine {batch_cos.min()}"
    vec = dict(zip(texts, one))

    def cos(a, b):
        return float(np.dot(vec[a], vec[b]))

    print(f"model: ort {ort.__version__}, {len(texts)} sentences one by one, norms {norms.min():.4f}..{norms.max():.4f}; "
          f"as one batch: cosine to one-by-one {batch_cos.min():.4f}..{batch_cos.max():.4f}")
    res = {}
    for name, pairs in (("zh paraphrase", PARAPHRASES), ("unrelated", UNRELATED), ("zh/en same", CROSS)):
        res[name] = [cos(a, b) for a, b in pairs]
        for (a, b), c in zip(pairs, res[name]):
            print(f"  {name:13s} {c:6.3f}  {a} | {b}")
        print(f"  {name:13s} mean {np.mean(res[name]):.3f}")
    assert min(res["zh paraphrase"]) > max(res["unrelated"]), "a paraphrase scored below an unrelated pair"
    assert min(res["zh/en same"]) > max(res["unrelated"]), "a zh/en pair scored below an unrelated pair"

    s = "主播，这个口红什么价格？"
    embed([s])
    n = 200
    t0 = time.perf_counter()
    for _ in range(n):
        embed([s])
    print(f"speed: {(time.perf_counter() - t0) / n * 1000:.2f} ms per comment, 1 thread")
    print("check_use: OK")


if __name__ == "__main__":
    sys.exit(main())
