"""A FAKE libcactus, compiled from C at test time, to drive our side of the libcactus boundary.

It stands in for the real library only to reach our error paths (NULL init, -1 with a message,
-2 buffer too small, a missing symbol, a malformed completion reply) and to record what we passed
(the telemetry variable seen by cactus_init, the last completion options). It embeds and generates
nothing real: the real library runs in tests/integration (under qemu on x86_64).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

FAKE_C = r"""
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static __thread const char* last = "";
static int model_tag = 42;
static int destroyed = 0;
static int resets = 0;
static int tele_off_at_init = -1;
static char last_options[4096];
int fake_destroyed(void) { return destroyed; }
int fake_resets(void) { return resets; }
int fake_tele_off_at_init(void) { return tele_off_at_init; }
const char* fake_last_options(void) { return last_options; }
void* cactus_init(const char* path, const char* corpus, bool cache) {
    (void)corpus; (void)cache;
    const char* v = getenv("CACTUS_NO_CLOUD_TELE");
    tele_off_at_init = v != NULL && strcmp(v, "1") == 0;
    if (strstr(path, "broken")) { last = "fake: no components/manifest.json"; return NULL; }
    return &model_tag;
}
void cactus_destroy(void* m) { (void)m; destroyed++; }
int cactus_tokenize(void* m, const char* text, uint32_t* buf, size_t n, size_t* out) {
    (void)m; size_t len = strlen(text);       /* one token per byte */
    *out = len;
    if (len > n) return -2;
    for (size_t i = 0; i < len; i++) buf[i] = (unsigned char)text[i];
    return 0;
}
int cactus_embed(void* m, const char* text, float* buf, size_t bytes, size_t* dim, bool normalize) {
    (void)m; (void)normalize;
    if (strstr(text, "FAIL")) { last = "fake: embedding failed"; return -1; }
    *dim = 8;
    if (bytes < 8 * sizeof(float)) return -2;
    for (int i = 0; i < 8; i++) buf[i] = (float)(i + 1) * (float)strlen(text);
    return 8;
}
const char* cactus_get_last_error(void) { return last; }
#ifndef NO_TELEMETRY_SYMBOL
void cactus_set_telemetry_environment(const char* f, const char* c, const char* v) { (void)f; (void)c; (void)v; }
#endif
#ifndef NO_COMPLETE_SYMBOL
typedef void (*cb_t)(const char*, uint32_t, void*);
int cactus_complete(void* m, const char* messages, char* out, size_t size, const char* options,
                    const char* tools, cb_t cb, void* user, const uint8_t* pcm, size_t pcm_size) {
    (void)m; (void)tools; (void)pcm; (void)pcm_size;
    snprintf(last_options, sizeof last_options, "%s", options ? options : "");
    if (strstr(messages, "FAIL")) { last = "fake: completion failed"; return -1; }
    if (strstr(messages, "BADJSON")) { snprintf(out, size, "not json {"); return 0; }
    if (cb) { cb("fa", 7, user); cb("ke", 8, user); }
    int n = snprintf(out, size, "{\"success\":true,\"response\":\"fake reply\",\"prefill_tokens\":%d,"
                     "\"decode_tokens\":2,\"total_time_ms\":1.5,\"confidence\":0.75}", (int)strlen(messages));
    return n > 0 && (size_t)n < size ? 0 : -1;
}
void cactus_reset(void* m) { (void)m; resets++; }
#endif
"""


def compile_fake(tmp: Path, name: str, *defines: str) -> Path:
    """Build the fake library as ``tmp/name`` (``-D`` flags remove symbols) or skip without a compiler."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler (cc) to build the fake libcactus")
    src = tmp / "fake_libcactus.c"
    src.write_text(FAKE_C)
    out = tmp / name
    subprocess.run([cc, "-shared", "-fPIC", "-std=c99", "-D_POSIX_C_SOURCE=200809L", *defines, str(src), "-o",
                    str(out)], check=True)
    return out
