/* Chat templates: turns a conversation into the prompt text a chat model was trained on, rendering the
 * model's Jinja chat template the way transformers' apply_chat_template(messages,
 * add_generation_prompt=..., tokenize=False) does (see tokenizer/jinja.h for the interpreter). */
#ifndef SLM_CHAT_H
#define SLM_CHAT_H

#include <time.h>

typedef struct {
    const char *role;    /* "system", "user", "assistant", ... */
    const char *content; /* NULL: the message has no content key */
} slm_chat_msg;

/* Renders msgs[0..n) with the template. bos_token/eos_token are the tokenizer's strings (NULL: left
 * undefined, as when the tokenizer has none). The template sees messages, add_generation_prompt,
 * bos_token, eos_token, tools = none and documents = none; strftime_now() uses the current local time.
 * Returns malloc'd text, or NULL with slm_error() ("chat template line N: ..." for template errors,
 * including the message of raise_exception()). */
char *slm_chat_render(const char *template_src, const slm_chat_msg *msgs, int n, int add_generation_prompt,
                      const char *bos_token, const char *eos_token);

/* The general form: messages as JSON (objects with role, content, tool_calls, tool_call_id, ...), tools
 * as a JSON array of schemas, and the clock. Like transformers, keys whose value is null are dropped from
 * messages, and reasoning_content/thinking/reasoning are copied to both "thinking" and "reasoning_content". */
typedef struct {
    const char *messages_json;         /* JSON array of message objects (required, not empty) */
    const char *tools_json;            /* JSON array of tool schemas; NULL: tools is none */
    int add_generation_prompt;
    const char *bos_token, *eos_token; /* NULL: undefined */
    const char *vars_json;             /* JSON object of extra variables (apply_chat_template's **kwargs,
                                          e.g. {"date_string": ...}); they override bos/eos; NULL: none */
    const struct tm *now;              /* what strftime_now() formats; NULL: the current local time */
} slm_chat_request;
char *slm_chat_render_request(const char *template_src, const slm_chat_request *req);

/* The chat template of a model folder, as transformers picks it: chat_template.jinja if present, else
 * tokenizer_config.json "chat_template" (a string, or a list of {name, template} where "default" is
 * used), else chat_template.json. Returns malloc'd text, or NULL with slm_error() saying why. */
char *slm_chat_template_load(const char *dir);

/* Built-in templates for --chat-template NAME: chatml, llama3, llama2, mistral, phi3, gemma, zephyr.
 * Returns the Jinja source, or NULL for an unknown name. */
const char *slm_chat_builtin(const char *name);
/* The built-in names, NULL-terminated (for help text). */
const char *const *slm_chat_builtin_names(void);

#endif
