/* slm perplexity: how well a model predicts a text, so weight formats can be compared.
 * The text is tokenized once and cut into windows of --ctx tokens; each window is evaluated from
 * an empty cache as one batch, and every token after the first of a window is scored. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"
#include "cli.h"
#include "gen_options.h"

static const char usage_head[] =
    "usage: slm perplexity -m DIR -f TEXTFILE [--ctx N] [--quant TYPE] [options]\n"
    "  -f, --file FILE        the text to score\n"
    "  Prints the perplexity exp(mean negative log-likelihood) with its standard error.\n";

int cmd_perplexity(int argc, char **argv) {
    const char *file = NULL;
    gen_options g;
    gen_options_init(&g);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (gen_options_parse(&g, argc, argv, &i, usage_head)) continue;
        if (!strcmp(a, "-f") || !strcmp(a, "--file")) file = cli_value(argc, argv, &i);
        else die("perplexity: unknown option '%s' (slm perplexity --help)", a);
    }
    gen_options_finish(&g, "perplexity");
    if (!file) die("perplexity: -f TEXTFILE is required");
    size_t len;
    char *text = cli_read_file(file, &len);
    slm_model *m;
    slm_tokenizer *tok;
    load_model_and_tokenizer(&g, &m, &tok, 0);
    int *ids, n;
    if (slm_tokenize(tok, text, len, !g.no_bos, 0, &ids, &n)) die("%s: %s", file, slm_error());
    int ctx = gen_context(&g, m);
    if (n < 2) die("%s: the text has %d tokens; at least 2 are needed", file, n);
    int V = slm_model_config(m)->vocab_size;
    slm_session *s = slm_session_new(m, ctx);
    float *logits = malloc((size_t)ctx * V * sizeof(float));
    if (!s || !logits) die("%s", s ? "out of memory" : slm_error());
    double sum = 0, sum2 = 0;
    long count = 0;
    for (int start = 0; start + 1 < n; start += ctx) {
        int w = n - start < ctx ? n - start : ctx;
        if (w < 2) break;
        slm_session_reset(s);
        if (slm_eval(s, ids + start, w, logits, 1)) die("%s", slm_error());
        for (int t = 0; t + 1 < w; t++) {
            const float *l = logits + (size_t)t * V;
            float max = l[0];
            for (int i = 1; i < V; i++) max = l[i] > max ? l[i] : max;
            double z = 0;
            for (int i = 0; i < V; i++) z += exp((double)l[i] - max);
            double nll = log(z) + max - l[ids[start + t + 1]];
            sum += nll;
            sum2 += nll * nll;
            count++;
        }
    }
    double mean = sum / count, var = count > 1 ? (sum2 - sum * sum / count) / (count - 1) : 0;
    double ppl = exp(mean), se = ppl * sqrt(var / count); /* delta method: d exp(m) = exp(m) dm */
    printf("perplexity %.4f ± %.4f over %ld tokens (%d tokens, windows of %d, %s weights)\n", ppl, se, count, n, ctx,
           g.load.quantize ? slm_dtype_name(g.load.quant_type) : "stored");
    free(logits);
    free(ids);
    free(text);
    slm_session_free(s);
    slm_model_free(m);
    slm_tokenizer_free(tok);
    return 0;
}
