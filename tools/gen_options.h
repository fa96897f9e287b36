/* Options shared by the subcommands that generate text (run, chat, route, perplexity):
 * the model, the device and threads, sampling, context, and how text becomes tokens. */
#ifndef SLM_GEN_OPTIONS_H
#define SLM_GEN_OPTIONS_H

#include "../model/model.h"
#include "../runtime/sampler.h"
#include "../tokenizer/tokenizer.h"

typedef struct {
    const char *dir;
    slm_load_opts load;
    slm_sampler_params sampling;
    int seed_given;
    int n_predict;
    int ctx;           /* 0: min(max_position_embeddings, 4096) */
    int special;       /* print special tokens */
    int no_bos;        /* do not add the post-processor's special tokens */
    const char *chat_template; /* built-in template name instead of the model's */
    const char *system;        /* system message for chat */
} gen_options;

/* Help text for the shared options. */
extern const char gen_options_help[];

void gen_options_init(gen_options *g);
/* Consumes argv[*i] (and its value) when it is a shared option; returns 1 then, else 0.
 * -h/--help prints usage_head (when not NULL) and the shared options, and exits. */
int gen_options_parse(gen_options *g, int argc, char **argv, int *i, const char *usage_head);
/* Checks -m was given, picks the seed; dies with a message otherwise. */
void gen_options_finish(gen_options *g, const char *cmd);

/* Loads the model and its tokenizer (dies on failure). The tokenizer may be NULL when the folder
 * has no tokenizer.json and allow_no_tokenizer is set. */
void load_model_and_tokenizer(const gen_options *g, slm_model **m, slm_tokenizer **tok, int allow_no_tokenizer);
/* The context size to use for a model. */
int gen_context(const gen_options *g, const slm_model *m);
/* Stop ids: the config's eos ids and every end-of-turn id the tokenizer knows. Returns a malloc'd array. */
int *gen_stop_ids(const slm_model *m, const slm_tokenizer *tok, int *n);
/* The chat template to use (the model's, or the built-in named by --chat-template); dies if none. */
char *gen_chat_template(const gen_options *g);

#endif
