/* The subset of libcactus' C API that cactus-router embeds with (cactus_router/embedders/cactus.py).
 * Taken from cactus-compute 2.2.2 (see VERSION); declarations only, no preprocessor lines, so the
 * file is fed verbatim to cffi's ffi.cdef(). Every function here is probed right after dlopen. */

typedef void* cactus_model_t;

cactus_model_t cactus_init(const char* model_path, const char* corpus_dir, bool cache_index);
void cactus_destroy(cactus_model_t model);
int cactus_tokenize(cactus_model_t model, const char* text, uint32_t* token_buffer,
                    size_t token_buffer_len, size_t* out_token_len);
int cactus_embed(cactus_model_t model, const char* text, float* embeddings_buffer,
                 size_t buffer_size, size_t* embedding_dim, bool normalize);
const char* cactus_get_last_error(void);
void cactus_set_telemetry_environment(const char* framework, const char* cache_location,
                                      const char* version);
