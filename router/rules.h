/* Routing rules checked before any generation: a forced mode, the prompt length, the task name
 * (--task or a request's "task"), then regex / keyword patterns on the prompt, first match wins.
 * A request no rule settles is routed by the confidence of its local answer (policy.h). */
#ifndef SLM_ROUTER_RULES_H
#define SLM_ROUTER_RULES_H

#include <stddef.h>

typedef enum { SLM_ROUTE_AUTO = 0, SLM_ROUTE_LOCAL, SLM_ROUTE_ESCALATE } slm_route;

typedef struct {
    char *name;
    slm_route route;
} slm_task_rule;

typedef struct {
    char *name;   /* shown in the decision reason */
    char *source; /* the regex as compiled */
    void *code;   /* pcre2_code * */
    slm_route route;
} slm_pattern_rule;

typedef struct {
    slm_route mode;       /* AUTO, or a forced LOCAL / ESCALATE */
    int max_local_tokens; /* prompts longer than this escalate; 0: no limit */
    slm_task_rule *tasks;
    int n_tasks;
    slm_pattern_rule *patterns;
    int n_patterns;
} slm_rules;

/* "auto", "local", "escalate" <-> slm_route. Parsing returns -1 for other words. */
const char *slm_route_name(slm_route r);
int slm_route_parse(const char *word);

void slm_rules_init(slm_rules *r);
void slm_rules_free(slm_rules *r);
/* Adds the default task table (classify, extract, faq -> local; reason -> escalate). */
int slm_rules_add_default_tasks(slm_rules *r);
int slm_rules_add_task(slm_rules *r, const char *name, slm_route route);
/* A PCRE2 pattern (UTF mode); a bad pattern fails with the offset and PCRE2's message. */
int slm_rules_add_regex(slm_rules *r, const char *name, const char *regex, slm_route route);
/* Matches any of the keywords as whole words, ignoring case. */
int slm_rules_add_keywords(slm_rules *r, const char *name, const char *const *keywords, int n, slm_route route);

/* The route the rules give a request. n_prompt_tokens < 0: unknown (the length rule is skipped).
 * task may be NULL; a task name the table lacks fails (-1, slm_error). reason gets one short line. */
int slm_rules_check(const slm_rules *r, const char *task, const char *prompt, int n_prompt_tokens, char *reason,
                    size_t reason_size);

#endif
