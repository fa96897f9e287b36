#include "batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"
#include "jsonl.h"
#include "log.h"

char *slm_batch_prompt(const cJSON *line, const char *path, int lineno, const slm_local_model *lm,
                       const slm_rules *rules) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(line, "id");
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(line, "prompt");
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(line, "messages");
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(line, "task");
    if (id && !cJSON_IsString(id) && !cJSON_IsNumber(id)) {
        slm_fail("%s:%d: id: expected a string or a number", path, lineno);
        return NULL;
    }
    if (task && !cJSON_IsString(task)) {
        slm_fail("%s:%d: task: expected a string", path, lineno);
        return NULL;
    }
    if (task && rules) {
        int i = 0;
        while (i < rules->n_tasks && strcmp(rules->tasks[i].name, task->valuestring)) i++;
        if (i == rules->n_tasks) {
            slm_fail("%s:%d: task: '%s' is not in the task table", path, lineno, task->valuestring);
            return NULL;
        }
    }
    if (!!prompt == !!messages) {
        slm_fail("%s:%d: needs exactly one of \"prompt\" and \"messages\"", path, lineno);
        return NULL;
    }
    if (prompt) {
        if (!cJSON_IsString(prompt)) {
            slm_fail("%s:%d: prompt: expected a string", path, lineno);
            return NULL;
        }
        char *s = strdup(prompt->valuestring);
        if (!s) slm_fail("%s:%d: out of memory", path, lineno);
        return s;
    }
    if (slm_messages_check(messages)) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", slm_error());
        slm_fail("%s:%d: %s", path, lineno, msg);
        return NULL;
    }
    char *s = lm && lm->render_chat ? lm->render_chat(lm->user, messages) : slm_messages_join(messages);
    if (!s) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", slm_error());
        slm_fail("%s:%d: messages: %s", path, lineno, msg);
    }
    return s;
}

typedef struct {
    cJSON *obj;
    int line;
} item;

int slm_route_batch(const slm_router_config *c, const char *in_path, const char *out_path, const slm_local_model *lm,
                    FILE *log, slm_batch_totals *t) {
    memset(t, 0, sizeof *t);
    slm_jsonl in;
    if (slm_jsonl_open(&in, in_path)) return -1;
    item *items = NULL;
    char **prompts = NULL;
    int n = 0, cap = 0, rc = 0;
    for (;;) {
        cJSON *o;
        int r = slm_jsonl_next(&in, &o);
        if (r <= 0) {
            rc = r;
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            item *it = realloc(items, (size_t)cap * sizeof *it);
            char **pr = realloc(prompts, (size_t)cap * sizeof *pr);
            if (it) items = it;
            if (pr) prompts = pr;
            if (!it || !pr) {
                cJSON_Delete(o);
                rc = slm_fail("%s: out of memory", in_path);
                break;
            }
        }
        items[n].obj = o;
        items[n].line = in.line;
        prompts[n] = slm_batch_prompt(o, in_path, in.line, lm, &c->rules);
        n++;
        if (!prompts[n - 1]) {
            rc = -1;
            break;
        }
    }
    slm_jsonl_close(&in);

    FILE *out = NULL;
    if (!rc) {
        out = strcmp(out_path, "-") ? fopen(out_path, "we") : stdout;
        if (!out) rc = slm_fail("%s: %s", out_path, strerror(errno));
    }
    for (int i = 0; i < n && !rc; i++) {
        slm_request req = {cJSON_GetObjectItemCaseSensitive(items[i].obj, "id"), prompts[i],
                           cJSON_GetObjectItemCaseSensitive(items[i].obj, "messages"), NULL};
        const cJSON *task = cJSON_GetObjectItemCaseSensitive(items[i].obj, "task");
        if (task) req.task = task->valuestring;
        slm_route_result res;
        t->n++;
        cJSON *line;
        if (slm_route_request(c, &req, lm, &res) == 0) {
            t->n_local += res.route == SLM_ROUTE_LOCAL;
            t->n_escalated += res.route == SLM_ROUTE_ESCALATE;
            t->n_remote += res.answered_remotely;
            line = slm_result_to_json(c, &req, &res, SLM_RESULT_ANSWER);
            if (log) {
                cJSON *entry = slm_result_to_json(c, &req, &res, c->log_prompts ? SLM_RESULT_PROMPT : 0);
                rc = slm_json_line(log, entry);
                cJSON_Delete(entry);
            }
        } else {
            t->n_failed++;
            line = slm_failure_to_json(&req, &res, slm_error(), 0);
            if (log) {
                cJSON *entry = slm_failure_to_json(&req, &res, slm_error(), c->log_prompts ? SLM_RESULT_PROMPT : 0);
                rc = slm_json_line(log, entry);
                cJSON_Delete(entry);
            }
        }
        if (!rc) rc = slm_json_line(out, line);
        cJSON_Delete(line);
        slm_route_result_free(&res);
    }
    if (out && out != stdout && fclose(out) && !rc) rc = slm_fail("%s: write error", out_path);
    for (int i = 0; i < n; i++) {
        cJSON_Delete(items[i].obj);
        free(prompts[i]);
    }
    free(items);
    free(prompts);
    return rc;
}
