/* Chat templates: the variables transformers gives a template, the template of a model folder, and
 * built-in templates for models that ship none. */
#include "chat.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/error.h"
#include "jinja.h"

/* Renders with vars; takes ownership of vars. */
static char *render_vars(const char *template_src, cJSON *vars, const struct tm *now) {
    char *out = NULL;
    jinja_template *t = jinja_parse(template_src);
    if (t) {
        out = jinja_render(t, vars, now);
        jinja_free(t);
    }
    cJSON_Delete(vars);
    return out;
}

/* The variables apply_chat_template passes besides messages. */
static int add_common(cJSON *vars, cJSON *tools, int add_generation_prompt, const char *bos, const char *eos) {
    if (!cJSON_AddItemToObject(vars, "tools", tools ? tools : cJSON_CreateNull())) return -1;
    if (!cJSON_AddNullToObject(vars, "documents")) return -1;
    if (!cJSON_AddBoolToObject(vars, "add_generation_prompt", add_generation_prompt != 0)) return -1;
    if (bos && !cJSON_AddStringToObject(vars, "bos_token", bos)) return -1;
    if (eos && !cJSON_AddStringToObject(vars, "eos_token", eos)) return -1;
    return 0;
}

char *slm_chat_render(const char *template_src, const slm_chat_msg *msgs, int n, int add_generation_prompt,
                      const char *bos_token, const char *eos_token) {
    if (!template_src) {
        slm_fail("chat template: no template");
        return NULL;
    }
    if (n <= 0) {
        slm_fail("chat template: cannot apply a chat template to an empty conversation");
        return NULL;
    }
    cJSON *vars = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(vars, "messages");
    if (!list) goto oom;
    for (int i = 0; i < n; i++) {
        cJSON *m = cJSON_CreateObject();
        if (!m || !cJSON_AddItemToArray(list, m)) goto oom;
        if (msgs[i].role && !cJSON_AddStringToObject(m, "role", msgs[i].role)) goto oom;
        if (msgs[i].content && !cJSON_AddStringToObject(m, "content", msgs[i].content)) goto oom;
    }
    if (add_common(vars, NULL, add_generation_prompt, bos_token, eos_token) < 0) goto oom;
    return render_vars(template_src, vars, NULL);
oom:
    cJSON_Delete(vars);
    slm_fail("chat template: out of memory");
    return NULL;
}

/* transformers' preparation of each message: drop null values, then alias the reasoning fields
 * ({"thinking": r, **message, "reasoning_content": r}). */
static cJSON *prepare_message(const cJSON *src) {
    cJSON *m = cJSON_CreateObject();
    if (!m) return NULL;
    static const char *const fields[] = {"reasoning_content", "thinking", "reasoning"};
    const cJSON *reasoning = NULL;
    for (int k = 0; k < 3 && !reasoning; k++) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(src, fields[k]);
        if (r && !cJSON_IsNull(r)) reasoning = r;
    }
    const cJSON *thinking = cJSON_GetObjectItemCaseSensitive(src, "thinking");
    if (reasoning) {
        const cJSON *first = thinking && !cJSON_IsNull(thinking) ? thinking : reasoning;
        cJSON_AddItemToObject(m, "thinking", cJSON_Duplicate(first, 1));
    }
    for (const cJSON *c = src->child; c; c = c->next) {
        if (cJSON_IsNull(c)) continue;
        if (reasoning && !strcmp(c->string, "thinking")) continue;
        const cJSON *v = reasoning && !strcmp(c->string, "reasoning_content") ? reasoning : c;
        cJSON_AddItemToObject(m, c->string, cJSON_Duplicate(v, 1));
    }
    if (reasoning && !cJSON_GetObjectItemCaseSensitive(m, "reasoning_content"))
        cJSON_AddItemToObject(m, "reasoning_content", cJSON_Duplicate(reasoning, 1));
    return m;
}

/* Extra template variables; like transformers' kwargs they replace bos_token/eos_token but cannot
 * replace the arguments apply_chat_template passes itself. */
static int add_extra_vars(cJSON *vars, const char *json) {
    cJSON *extra = cJSON_Parse(json);
    if (!cJSON_IsObject(extra)) {
        cJSON_Delete(extra);
        return slm_fail("chat variables: not a JSON object");
    }
    static const char *const reserved[] = {"messages", "tools", "documents", "add_generation_prompt"};
    for (cJSON *c = extra->child; c; c = c->next)
        for (int k = 0; k < 4; k++)
            if (!strcmp(c->string, reserved[k])) {
                slm_fail("chat variables: '%s' cannot be set this way", c->string);
                cJSON_Delete(extra);
                return -1;
            }
    while (extra->child) {
        cJSON *c = cJSON_DetachItemViaPointer(extra, extra->child);
        cJSON_DeleteItemFromObjectCaseSensitive(vars, c->string);
        cJSON_AddItemToObject(vars, c->string, c);
    }
    cJSON_Delete(extra);
    return 0;
}

char *slm_chat_render_request(const char *template_src, const slm_chat_request *req) {
    if (!template_src || !req || !req->messages_json) {
        slm_fail("chat template: no template or no messages");
        return NULL;
    }
    cJSON *msgs = cJSON_Parse(req->messages_json);
    if (!cJSON_IsArray(msgs)) {
        cJSON_Delete(msgs);
        slm_fail("chat messages: not a JSON array");
        return NULL;
    }
    if (cJSON_GetArraySize(msgs) == 0) {
        cJSON_Delete(msgs);
        slm_fail("chat template: cannot apply a chat template to an empty conversation");
        return NULL;
    }
    cJSON *tools = NULL;
    if (req->tools_json) {
        tools = cJSON_Parse(req->tools_json);
        if (!cJSON_IsArray(tools)) {
            cJSON_Delete(msgs);
            cJSON_Delete(tools);
            slm_fail("chat tools: not a JSON array");
            return NULL;
        }
    }
    cJSON *vars = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(vars, "messages");
    int i = 0;
    for (const cJSON *m = msgs->child; m; m = m->next, i++) {
        if (!cJSON_IsObject(m)) {
            cJSON_Delete(msgs);
            cJSON_Delete(tools);
            cJSON_Delete(vars);
            slm_fail("chat messages: message %d is not a JSON object", i);
            return NULL;
        }
        cJSON_AddItemToArray(list, prepare_message(m));
    }
    cJSON_Delete(msgs);
    if (add_common(vars, tools, req->add_generation_prompt, req->bos_token, req->eos_token) < 0) {
        cJSON_Delete(vars);
        slm_fail("chat template: out of memory");
        return NULL;
    }
    if (req->vars_json && add_extra_vars(vars, req->vars_json) < 0) {
        cJSON_Delete(vars);
        return NULL;
    }
    return render_vars(template_src, vars, req->now);
}

/* ---- loading ---- */

/* Reads a whole file; NULL when it does not exist (*missing set) or cannot be read (slm_fail). */
static char *read_text(const char *path, int *missing) {
    *missing = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        *missing = 1;
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = cap ? cap * 2 : 65536 * 2;
            if (cap > (256u << 20)) {
                slm_fail("%s: file too large", path);
                goto fail;
            }
            char *nb = realloc(buf, cap);
            if (!nb) {
                slm_fail("%s: out of memory", path);
                goto fail;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        slm_fail("%s: read error", path);
        goto fail;
    }
    fclose(f);
    buf[n] = 0;
    if (strlen(buf) != n) {
        slm_fail("%s: contains a NUL byte", path);
        free(buf);
        return NULL;
    }
    return buf;
fail:
    fclose(f);
    free(buf);
    return NULL;
}

static char *dup_str(const char *s) {
    char *d = malloc(strlen(s) + 1);
    if (!d) slm_fail("chat template: out of memory");
    else strcpy(d, s);
    return d;
}

/* The "chat_template" member of a config object: a string or a list of {name, template}. */
static char *template_from_json(const char *path, const cJSON *tpl) {
    if (cJSON_IsString(tpl)) return dup_str(tpl->valuestring);
    if (!cJSON_IsArray(tpl)) {
        slm_fail("%s: chat_template: expected a string or a list of {name, template}", path);
        return NULL;
    }
    char names[256] = "";
    for (const cJSON *e = tpl->child; e; e = e->next) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(e, "template");
        if (!cJSON_IsString(name) || !cJSON_IsString(text)) {
            slm_fail("%s: chat_template: each entry needs a string name and template", path);
            return NULL;
        }
        if (!strcmp(name->valuestring, "default")) return dup_str(text->valuestring);
        size_t l = strlen(names);
        snprintf(names + l, sizeof names - l, "%s%s", l ? ", " : "", name->valuestring);
    }
    slm_fail("%s: chat_template: no template named \"default\" (there are: %s)", path, names);
    return NULL;
}

static char *template_from_config(const char *path, int *missing) {
    char *text = read_text(path, missing);
    if (!text) return NULL;
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j) {
        slm_fail("%s: not valid JSON", path);
        return NULL;
    }
    const cJSON *tpl = cJSON_GetObjectItemCaseSensitive(j, "chat_template");
    char *r = NULL;
    if (!tpl || cJSON_IsNull(tpl)) *missing = 1;
    else r = template_from_json(path, tpl);
    cJSON_Delete(j);
    return r;
}

char *slm_chat_template_load(const char *dir) {
    char path[4096];
    int missing;
    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    char *t = read_text(path, &missing);
    if (t || !missing) return t;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    t = template_from_config(path, &missing);
    if (t || !missing) return t;
    snprintf(path, sizeof path, "%s/chat_template.json", dir);
    t = template_from_config(path, &missing);
    if (t || !missing) return t;
    slm_fail("%s: no chat template (no chat_template.jinja, and tokenizer_config.json has no chat_template)", dir);
    return NULL;
}

/* ---- built-in templates ---- */

static const char *const builtin_names[] = {"chatml", "llama3", "llama2", "mistral", "phi3", "gemma", "zephyr", NULL};

static const char *const builtin_sources[] = {
    /* chatml: Qwen, SmolLM, Hermes and others */
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",

    /* llama3: Meta-Llama-3-8B-Instruct's template */
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}",

    /* llama2: Llama-2-chat's template */
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}"
    "{% endfor %}",

    /* mistral: v3 instruct format "[INST] user[/INST] answer</s>", the system message joined to the last
     * user message as Mistral's own tokenizer does */
    "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}"
    "{%- set loop_messages = messages[1:] %}{%- else %}{%- set loop_messages = messages %}{%- endif %}"
    "{{- bos_token }}"
    "{%- for message in loop_messages %}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{- raise_exception('After the optional system message, conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{%- endif %}"
    "{%- if message['role'] == 'user' %}"
    "{%- if loop.last and system_message is defined %}"
    "{{- '[INST] ' + system_message + '\\n\\n' + message['content'] + '[/INST]' }}"
    "{%- else %}{{- '[INST] ' + message['content'] + '[/INST]' }}{%- endif %}"
    "{%- elif message['role'] == 'assistant' %}{{- ' ' + message['content'] | trim + eos_token }}"
    "{%- else %}{{- raise_exception('Only user and assistant roles are supported, with the exception of an "
    "initial optional system message!') }}{%- endif %}"
    "{%- endfor %}",

    /* phi3: Phi-3.5-mini-instruct's template */
    "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}"
    "{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'user' %}"
    "{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'assistant' %}"
    "{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}",

    /* gemma: Gemma 2's turns; a system message goes before the first user message (as Gemma 3 does) */
    "{{ bos_token }}{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{%- endif -%}"
    "{%- if message['role'] == 'assistant' -%}{%- set role = 'model' -%}{%- else -%}"
    "{%- set role = message['role'] -%}{%- endif -%}"
    "{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') + message['content'] | trim"
    " + '<end_of_turn>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}",

    /* zephyr: zephyr-7b-beta's template */
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n"
    "{{ '<|user|>\\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n"
    "{{ '<|system|>\\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n"
    "{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}",
};

const char *slm_chat_builtin(const char *name) {
    if (!name) return NULL;
    for (int i = 0; builtin_names[i]; i++)
        if (!strcmp(builtin_names[i], name)) return builtin_sources[i];
    return NULL;
}

const char *const *slm_chat_builtin_names(void) { return builtin_names; }
