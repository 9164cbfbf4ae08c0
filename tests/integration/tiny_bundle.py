"""Builds tiny, valid libcactus model bundles with the library's own graph API (cactus_graph_*).

The bundle is the shape of a real text-embedding bundle, scaled down: ``config.txt``, a byte-level
BPE tokenizer (``vocab.txt``, ``merges.txt``, ``tokenizer_config.txt``) and one
``text_embedding`` component whose graph looks token ids up in an FP16 embedding table that is
saved inside the graph file. libcactus then tokenizes, runs the graph and mean-pools exactly as it
does for a real model; only the weights are made up (seeded, so the bundle is reproducible).

``build_lm`` writes the generating counterpart: one ``decoder_full_context`` component (the
component libcactus runs over the whole context at each step, with no KV cache) whose graph looks
token ids up in an FP16 table and multiplies them by an FP16 output head, giving next-token logits.
libcactus then applies its chat template, tokenizes, samples and detokenizes as for a real model.

Run as a script (``python tiny_bundle.py LIB OUT_DIR``) or call ``build(lib_path, out_dir)``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

#: The graph API declarations this helper needs (libcactus 2.2.2, cactus/bindings).
GRAPH_CDEF = """
typedef void* cactus_graph_t;
typedef uint64_t cactus_node_t;
cactus_graph_t cactus_graph_create(void);
void cactus_graph_destroy(cactus_graph_t graph);
int cactus_graph_input(cactus_graph_t graph, const size_t* shape, size_t rank, int32_t precision,
                       cactus_node_t* out);
int cactus_graph_set_input(cactus_graph_t graph, cactus_node_t node, const void* data, int32_t precision);
int cactus_graph_mark_embedded_input(cactus_graph_t graph, cactus_node_t node);
int cactus_graph_embedding_from_tensor(cactus_graph_t graph, cactus_node_t table, cactus_node_t indices,
                                       cactus_node_t* out);
int cactus_graph_reshape(cactus_graph_t graph, cactus_node_t x, const size_t* shape, size_t rank,
                         cactus_node_t* out);
int cactus_graph_matmul(cactus_graph_t graph, cactus_node_t a, cactus_node_t b, bool pretransposed_rhs,
                        cactus_node_t* out);
int cactus_graph_save(cactus_graph_t graph, const char* filename);
const char* cactus_get_last_error(void);
"""

FP16 = 1  # libcactus Precision::FP16
HIDDEN = 32  # embedding dimension of the tiny model
SEQ = 64  # token capacity of the text_embedding graph (BOS and EOS included)
LM_SEQ = 256  # context capacity of the generating graph: the chat-templated prompt plus the new tokens
SPECIALS = ("<|pad|>", "<|startoftext|>", "<|im_end|>")  # ids 0, 1, 2: unk/pad, BOS, EOS
MERGES = (("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("o", "n"), ("Ġ", "s"))


def _byte_symbols() -> list[str]:
    """The 256 byte-level BPE symbols in byte order, mapped as libcactus' BPE tokenizer maps bytes."""
    printable = set(range(33, 127)) | set(range(161, 256))
    out, extra = {}, 0
    for b in range(256):
        if b in printable:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return [out[b] for b in range(256)]


def vocabulary() -> list[str]:
    """Token strings by id: the specials, the 256 byte symbols, then one token per merge."""
    return [*SPECIALS, *_byte_symbols(), *(a + b for a, b in MERGES)]


def _check(ffi, lib, rc: int, what: str) -> None:  # type: ignore[no-untyped-def]
    if rc != 0:
        err = lib.cactus_get_last_error()
        raise RuntimeError(f"{what} failed ({rc}): {ffi.string(err).decode() if err != ffi.NULL else ''}")


def _write_tokenizer(root: Path) -> list[str]:
    """The tokenizer files and config.txt shared by both tiny bundles; returns the vocabulary."""
    vocab = vocabulary()
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (root / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in MERGES), encoding="utf-8")
    (root / "tokenizer_config.txt").write_text(
        f"tokenizer_type=bpe\nvocab_size={len(vocab)}\nunk_token_id=0\npad_token_id=0\nbos_token_id=1\neos_token_id=2\n",
        encoding="utf-8",
    )
    (root / "config.txt").write_text(
        f"model_type=lfm2\nvocab_size={len(vocab)}\nbos_token_id=1\neos_token_id=2\npad_token_id=0\n"
        f"hidden_dim={HIDDEN}\nnum_layers=1\nattention_heads=1\nattention_kv_heads=1\n"
        f"attention_head_dim={HIDDEN}\nffn_intermediate_dim={HIDDEN}\nprecision=FP16\n",
        encoding="utf-8",
    )
    return vocab


def build(lib_path: str, out_dir: str | os.PathLike[str], seed: int = 0) -> Path:
    """Write the tiny bundle into ``out_dir`` (created) and return its path."""
    import cffi

    ffi = cffi.FFI()
    ffi.cdef(GRAPH_CDEF)
    lib = ffi.dlopen(lib_path)
    root = Path(out_dir)
    comp_dir = root / "components" / "text_embedding"
    comp_dir.mkdir(parents=True, exist_ok=True)

    vocab = _write_tokenizer(root)

    table = np.random.default_rng(seed).standard_normal((len(vocab), HIDDEN)).astype(np.float16)
    g = lib.cactus_graph_create()
    if g == ffi.NULL:
        _check(ffi, lib, -1, "cactus_graph_create")
    try:
        ids_node, table_node, out_node = (ffi.new("cactus_node_t *") for _ in range(3))
        _check(ffi, lib, lib.cactus_graph_input(g, ffi.new("size_t[]", [1, SEQ]), 2, FP16, ids_node), "graph input_ids")
        _check(ffi, lib, lib.cactus_graph_input(g, ffi.new("size_t[]", list(table.shape)), 2, FP16, table_node),
               "graph table")
        _check(ffi, lib, lib.cactus_graph_set_input(g, table_node[0], ffi.from_buffer(table), FP16), "set table")
        _check(ffi, lib, lib.cactus_graph_mark_embedded_input(g, table_node[0]), "embed table")
        _check(ffi, lib, lib.cactus_graph_embedding_from_tensor(g, table_node[0], ids_node[0], out_node), "embedding")
        graph_file = comp_dir / "graph.cactus"
        _check(ffi, lib, lib.cactus_graph_save(g, str(graph_file).encode()), "cactus_graph_save")
        manifest = {
            "model_id": "cactus-router/tiny-text-embedding",
            "model_source": "cactus-router tests/integration/tiny_bundle.py",
            "task": "text_embedding",
            "family": "lfm2",
            "component_order": ["text_embedding"],
            "components": [{
                "component": "text_embedding",
                "directory": "components/text_embedding",
                "graph": "components/text_embedding/graph.cactus",
                "inputs": ["input_ids"],
                "outputs": ["last_hidden_state"],
                "logical_inputs": ["input_ids"],
                "logical_outputs": ["last_hidden_state"],
                "runtime_input_node_ids": [int(ids_node[0])],
                "output_node_ids": [int(out_node[0])],
                "cache_state_node_ids": [],
                "bound_constant_bindings": [],
                "metadata": {},
            }],
        }
        (root / "components" / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    finally:
        lib.cactus_graph_destroy(g)
    return root


def build_lm(lib_path: str, out_dir: str | os.PathLike[str], seed: int = 0) -> Path:
    """Write the tiny generating bundle into ``out_dir`` (created) and return its path."""
    import cffi

    ffi = cffi.FFI()
    ffi.cdef(GRAPH_CDEF)
    lib = ffi.dlopen(lib_path)
    root = Path(out_dir)
    comp_dir = root / "components" / "decoder_full_context"
    comp_dir.mkdir(parents=True, exist_ok=True)
    vocab = _write_tokenizer(root)
    rng = np.random.default_rng(seed)
    table = rng.standard_normal((len(vocab), HIDDEN)).astype(np.float16)
    head = rng.standard_normal((len(vocab), HIDDEN)).astype(np.float16)
    g = lib.cactus_graph_create()
    if g == ffi.NULL:
        _check(ffi, lib, -1, "cactus_graph_create")
    try:
        ids, mask, tab, hd, emb, flat, logits = (ffi.new("cactus_node_t *") for _ in range(7))
        seq = ffi.new("size_t[]", [1, LM_SEQ])
        _check(ffi, lib, lib.cactus_graph_input(g, seq, 2, FP16, ids), "graph input_ids")
        _check(ffi, lib, lib.cactus_graph_input(g, seq, 2, FP16, mask), "graph attention_mask")
        for node, weights, what in ((tab, table, "table"), (hd, head, "head")):
            _check(ffi, lib, lib.cactus_graph_input(g, ffi.new("size_t[]", list(weights.shape)), 2, FP16, node), what)
            _check(ffi, lib, lib.cactus_graph_set_input(g, node[0], ffi.from_buffer(weights), FP16), f"set {what}")
            _check(ffi, lib, lib.cactus_graph_mark_embedded_input(g, node[0]), f"embed {what}")
        _check(ffi, lib, lib.cactus_graph_embedding_from_tensor(g, tab[0], ids[0], emb), "embedding")
        _check(ffi, lib, lib.cactus_graph_reshape(g, emb[0], ffi.new("size_t[]", [LM_SEQ, HIDDEN]), 2, flat), "reshape")
        _check(ffi, lib, lib.cactus_graph_matmul(g, flat[0], hd[0], True, logits), "matmul")
        _check(ffi, lib, lib.cactus_graph_save(g, str(comp_dir / "graph.cactus").encode()), "cactus_graph_save")
        manifest = {
            "model_id": "cactus-router/tiny-lm",
            "model_source": "cactus-router tests/integration/tiny_bundle.py",
            "task": "causal_lm_logits",
            "family": "lfm2",
            "component_order": ["decoder_full_context"],
            "components": [{
                "component": "decoder_full_context",
                "directory": "components/decoder_full_context",
                "graph": "components/decoder_full_context/graph.cactus",
                "inputs": ["input_ids", "attention_mask"],
                "outputs": ["logits"],
                "logical_inputs": ["input_ids", "attention_mask"],
                "logical_outputs": ["logits"],
                "runtime_input_node_ids": [int(ids[0]), int(mask[0])],
                "output_node_ids": [int(logits[0])],
                "cache_state_node_ids": [],
                "bound_constant_bindings": [],
                "metadata": {},
            }],
        }
        (root / "components" / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    finally:
        lib.cactus_graph_destroy(g)
    return root


if __name__ == "__main__":
    print(build(sys.argv[1], sys.argv[2]))
