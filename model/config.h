/* config.json + generation_config.json of a Hugging Face model folder, as one plain struct. */
#ifndef SLM_CONFIG_H
#define SLM_CONFIG_H

#include "../runtime/tensor.h"

typedef enum { SLM_ARCH_LLAMA = 0, SLM_ARCH_MISTRAL } slm_arch;
typedef enum { SLM_ROPE_DEFAULT = 0, SLM_ROPE_LINEAR, SLM_ROPE_LLAMA3 } slm_rope_type;

enum { SLM_MAX_EOS = 16 };

typedef struct {
    slm_arch arch;
    char model_type[32];
    int vocab_size;
    int hidden_size;
    int intermediate_size;
    int n_layers;
    int n_heads;
    int n_kv_heads;
    int head_dim;
    int max_position_embeddings;
    float rms_norm_eps;
    int tie_word_embeddings;
    int attention_bias;
    int mlp_bias;
    int sliding_window; /* 0: none */
    /* RoPE */
    double rope_theta;
    slm_rope_type rope_type;
    double rope_factor;
    double rope_low_freq_factor, rope_high_freq_factor;
    int rope_original_max_position_embeddings;
    /* special tokens (-1 when absent); eos_ids is the union of config and generation_config */
    int bos_id;
    int eos_ids[SLM_MAX_EOS];
    int n_eos;
    /* storage dtype named in the config (torch_dtype / dtype), informational */
    char dtype[16];
    /* generation_config sampling defaults (negative: not given) */
    double gen_temperature, gen_top_p, gen_repetition_penalty;
    int gen_top_k;
} slm_config;

/* Reads DIR/config.json and, when present, DIR/generation_config.json.
 * Returns 0, or -1 with slm_error() naming the file and field. */
int slm_config_load(slm_config *c, const char *dir);
/* Fills the rotary inverse frequencies [head_dim/2] including the configured scaling. */
void slm_rope_inv_freq(const slm_config *c, float *inv_freq);
const char *slm_arch_name(slm_arch a);

#endif
