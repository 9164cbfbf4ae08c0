/* The text-generation subset of libcactus' C API that cactus-router calls
 * (cactus_router/generation/cactus.py), read after cactus_embed.h (it uses cactus_model_t).
 * Taken from cactus-compute 2.2.2 (see VERSION): the argument lists of cactus_complete and
 * cactus_reset in that wheel's own ctypes bindings (cactus/bindings/cactus.py: ten arguments,
 * the last two an optional PCM audio buffer) and the symbols its libcactus_engine.so exports.
 * The upstream repository snapshot fetched for this (commit 4b45af1, June 2025) predates the 2.x
 * C API, so the wheel is the source. Declarations only, fed verbatim to cffi's ffi.cdef(). */

typedef void (*cactus_token_callback)(const char* token, uint32_t token_id, void* user_data);

int cactus_complete(cactus_model_t model, const char* messages_json, char* response_buffer,
                    size_t buffer_size, const char* options_json, const char* tools_json,
                    cactus_token_callback callback, void* user_data,
                    const uint8_t* pcm_buffer, size_t pcm_buffer_size);
void cactus_reset(cactus_model_t model);
