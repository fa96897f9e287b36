#include "rules.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"

static const char *const route_names[] = {"auto", "local", "escalate"};

const char *slm_route_name(slm_route r) { return r >= SLM_ROUTE_AUTO && r <= SLM_ROUTE_ESCALATE ? route_names[r] : "?"; }

int slm_route_parse(const char *word) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(word, route_names[i])) return i;
    return -1;
}

void slm_rules_init(slm_rules *r) { memset(r, 0, sizeof *r); }

void slm_rules_free(slm_rules *r) {
    for (int i = 0; i < r->n_tasks; i++) free(r->tasks[i].name);
    for (int i = 0; i < r->n_patterns; i++) {
        free(r->patterns[i].name);
        free(r->patterns[i].source);
        pcre2_code_free(r->patterns[i].code);
    }
    free(r->tasks);
    free(r->patterns);
    memset(r, 0, sizeof *r);
}

int slm_rules_add_task(slm_rules *r, const char *name, slm_route route) {
    for (int i = 0; i < r->n_tasks; i++)
        if (!strcmp(r->tasks[i].name, name)) {
            r->tasks[i].route = route;
            return 0;
        }
    slm_task_rule *t = realloc(r->tasks, (size_t)(r->n_tasks + 1) * sizeof *t);
    if (!t) return slm_fail("rules: out of memory");
    r->tasks = t;
    if (!(t[r->n_tasks].name = strdup(name))) return slm_fail("rules: out of memory");
    t[r->n_tasks++].route = route;
    return 0;
}

int slm_rules_add_default_tasks(slm_rules *r) {
    if (slm_rules_add_task(r, "classify", SLM_ROUTE_LOCAL) || slm_rules_add_task(r, "extract", SLM_ROUTE_LOCAL) ||
        slm_rules_add_task(r, "faq", SLM_ROUTE_LOCAL) || slm_rules_add_task(r, "reason", SLM_ROUTE_ESCALATE))
        return -1;
    return 0;
}

int slm_rules_add_regex(slm_rules *r, const char *name, const char *regex, slm_route route) {
    int code;
    PCRE2_SIZE offset;
    /* MATCH_INVALID_UTF: prompts are matched as they come, even when not valid UTF-8. */
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code,
                                   &offset, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return slm_fail("regex at offset %zu: %s", (size_t)offset, (const char *)msg);
    }
    slm_pattern_rule *p = realloc(r->patterns, (size_t)(r->n_patterns + 1) * sizeof *p);
    if (!p) {
        pcre2_code_free(re);
        return slm_fail("rules: out of memory");
    }
    r->patterns = p;
    p += r->n_patterns;
    p->name = strdup(name);
    p->source = strdup(regex);
    p->code = re;
    p->route = route;
    r->n_patterns++;
    if (!p->name || !p->source) return slm_fail("rules: out of memory");
    return 0;
}

int slm_rules_add_keywords(slm_rules *r, const char *name, const char *const *keywords, int n, slm_route route) {
    /* One caseless alternation, not inside a longer word (Unicode word characters); every byte that could mean something to PCRE2 is
     * escaped, so keywords are taken literally. */
    size_t cap = 32;
    for (int i = 0; i < n; i++) cap += 2 * strlen(keywords[i]) + 1;
    char *re = malloc(cap);
    if (!re) return slm_fail("rules: out of memory");
    size_t len = (size_t)sprintf(re, "(*UCP)(?i)(?<!\\w)(?:");
    for (int i = 0; i < n; i++) {
        if (i) re[len++] = '|';
        for (const char *k = keywords[i]; *k; k++) {
            unsigned char c = (unsigned char)*k;
            int plain = c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
            if (!plain) re[len++] = '\\';
            re[len++] = (char)c;
        }
    }
    strcpy(re + len, ")(?!\\w)");
    int rc = slm_rules_add_regex(r, name, re, route);
    free(re);
    return rc;
}

static int matches(const slm_pattern_rule *p, const char *text) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(p->code, NULL);
    if (!md) return 0;
    int rc = pcre2_match(p->code, (PCRE2_SPTR)text, strlen(text), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

int slm_rules_check(const slm_rules *r, const char *task, const char *prompt, int n_prompt_tokens, char *reason,
                    size_t reason_size) {
    if (r->mode != SLM_ROUTE_AUTO) {
        snprintf(reason, reason_size, "forced %s", slm_route_name(r->mode));
        return r->mode;
    }
    if (r->max_local_tokens > 0 && n_prompt_tokens > r->max_local_tokens) {
        snprintf(reason, reason_size, "prompt has %d tokens, over max_local_tokens %d", n_prompt_tokens, r->max_local_tokens);
        return SLM_ROUTE_ESCALATE;
    }
    if (task && *task) {
        int i = 0;
        while (i < r->n_tasks && strcmp(r->tasks[i].name, task)) i++;
        if (i == r->n_tasks) return slm_fail("task '%s' is not in the task table", task);
        if (r->tasks[i].route != SLM_ROUTE_AUTO) {
            snprintf(reason, reason_size, "task %s", task);
            return r->tasks[i].route;
        }
    }
    for (int i = 0; i < r->n_patterns; i++)
        if (r->patterns[i].route != SLM_ROUTE_AUTO && matches(&r->patterns[i], prompt)) {
            snprintf(reason, reason_size, "rule %s matched", r->patterns[i].name);
            return r->patterns[i].route;
        }
    snprintf(reason, reason_size, "no rule");
    return SLM_ROUTE_AUTO;
}
