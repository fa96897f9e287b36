/* Shapes of released models, from each one's published config.json, for random-weight benchmarks.
 * published_params is the parameter count of the released checkpoint; slm_preset_params() must
 * reproduce it from the shape, which checks the shapes. */
#include <string.h>

#include "../runtime/error.h"
#include "bench.h"

#define QWEN2_NOTE "qwen2 model folders are not loaded yet: benched as the Llama shape with attention biases"
#define PHI3_NOTE "phi3 (fused qkv_proj, gate_up_proj) folders are not loaded yet: benched as the Llama shape it splits into"
#define GEMMA2_NOTE \
    "gemma2 (GeGLU, 4 norms per layer, soft-capping, alternating sliding window) is not supported: benched as the Llama shape"

static const slm_preset presets[] = {
    /* name, source, arch, hidden, ffn, layers, heads, kv, head_dim, vocab, tied, qkv_bias, norms, theta, params, note */
    {"llama-3.2-1b", "meta-llama/Llama-3.2-1B", "llama", 2048, 8192, 16, 32, 8, 64, 128256, 1, 0, 2, 500000,
     1235814400, NULL},
    {"llama-3.2-3b", "meta-llama/Llama-3.2-3B", "llama", 3072, 8192, 28, 24, 8, 128, 128256, 1, 0, 2, 500000,
     3212749824, NULL},
    {"llama-3.1-8b", "meta-llama/Llama-3.1-8B", "llama", 4096, 14336, 32, 32, 8, 128, 128256, 0, 0, 2, 500000,
     8030261248, NULL},
    {"llama-2-7b", "meta-llama/Llama-2-7b-hf", "llama", 4096, 11008, 32, 32, 32, 128, 32000, 0, 0, 2, 10000,
     6738415616, NULL},
    {"phi-3-mini", "microsoft/Phi-3-mini-4k-instruct", "phi3", 3072, 8192, 32, 32, 32, 96, 32064, 0, 0, 2, 10000,
     3821079552, PHI3_NOTE},
    {"qwen2.5-0.5b", "Qwen/Qwen2.5-0.5B", "qwen2", 896, 4864, 24, 14, 2, 64, 151936, 1, 1, 2, 1000000, 494032768,
     QWEN2_NOTE},
    {"qwen2.5-1.5b", "Qwen/Qwen2.5-1.5B", "qwen2", 1536, 8960, 28, 12, 2, 128, 151936, 1, 1, 2, 1000000,
     1543714304, QWEN2_NOTE},
    {"qwen2.5-7b", "Qwen/Qwen2.5-7B", "qwen2", 3584, 18944, 28, 28, 4, 128, 152064, 0, 1, 2, 1000000, 7615616512,
     QWEN2_NOTE},
    {"mistral-7b", "mistralai/Mistral-7B-v0.3", "mistral", 4096, 14336, 32, 32, 8, 128, 32768, 0, 0, 2, 1000000,
     7248023552, NULL},
    {"gemma-2-2b", "google/gemma-2-2b", "gemma2", 2304, 9216, 26, 8, 4, 256, 256000, 1, 0, 4, 10000, 2614341888,
     GEMMA2_NOTE},
    {"smollm2-135m", "HuggingFaceTB/SmolLM2-135M", "llama", 576, 1536, 30, 9, 3, 64, 49152, 1, 0, 2, 100000,
     134515008, NULL},
    {"smollm2-360m", "HuggingFaceTB/SmolLM2-360M", "llama", 960, 2560, 32, 15, 5, 64, 49152, 1, 0, 2, 100000,
     361821120, NULL},
    {"smollm2-1.7b", "HuggingFaceTB/SmolLM2-1.7B", "llama", 2048, 8192, 24, 32, 32, 64, 49152, 1, 0, 2, 130000,
     1711376384, NULL},
};

int slm_preset_count(void) { return (int)(sizeof presets / sizeof presets[0]); }

const slm_preset *slm_preset_at(int i) { return i >= 0 && i < slm_preset_count() ? &presets[i] : NULL; }

const slm_preset *slm_preset_find(const char *name) {
    for (int i = 0; i < slm_preset_count(); i++)
        if (!strcmp(presets[i].name, name)) return &presets[i];
    return NULL;
}

void slm_preset_config(const slm_preset *p, slm_config *c) {
    memset(c, 0, sizeof *c);
    c->arch = strcmp(p->arch, "mistral") ? SLM_ARCH_LLAMA : SLM_ARCH_MISTRAL;
    snprintf(c->model_type, sizeof c->model_type, "%s", c->arch == SLM_ARCH_MISTRAL ? "mistral" : "llama");
    c->vocab_size = p->vocab;
    c->hidden_size = p->hidden;
    c->intermediate_size = p->ffn;
    c->n_layers = p->layers;
    c->n_heads = p->heads;
    c->n_kv_heads = p->kv_heads;
    c->head_dim = p->head_dim;
    c->max_position_embeddings = 131072;
    c->rms_norm_eps = 1e-5f;
    c->tie_word_embeddings = p->tied;
    c->attention_bias = p->qkv_bias;
    c->rope_theta = p->rope_theta;
    c->rope_type = SLM_ROPE_DEFAULT;
    c->rope_factor = 1;
    c->bos_id = -1;
    c->gen_temperature = c->gen_top_p = c->gen_repetition_penalty = -1;
    c->gen_top_k = -1;
    snprintf(c->dtype, sizeof c->dtype, "bfloat16");
}

double slm_preset_params(const slm_preset *p) {
    double h = p->hidden, q = (double)p->heads * p->head_dim, kv = (double)p->kv_heads * p->head_dim;
    double attn = h * q * 2 + h * kv * 2 + (p->qkv_bias ? q + 2 * kv : 0);
    double layer = attn + 3 * h * p->ffn + p->norms_per_layer * h;
    double embed = (double)p->vocab * h * (p->tied ? 1 : 2);
    return p->layers * layer + embed + h;
}

int slm_bench_preset_model(slm_model **out, const slm_preset *p, slm_dtype type, uint64_t seed,
                           const slm_load_opts *opts) {
    slm_config c;
    slm_preset_config(p, &c);
    return slm_model_random(out, &c, type, seed, opts);
}
