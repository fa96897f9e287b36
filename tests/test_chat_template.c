/* Chat templates: every fixture in tests/fixtures/chat (rendered by transformers, see
 * tools/py/make_chat_fixtures.py) must come out byte for byte the same, templates that transformers
 * rejects must fail here too, and hostile templates must end with an error, never a crash or a hang. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../runtime/error.h"
#include "../tokenizer/chat.h"
#include "../tokenizer/jinja.h"
#include "test.h"

#define FIXTURES "tests/fixtures/chat"

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[n] = 0;
    fclose(f);
    return buf;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* "YYYY-MM-DD HH:MM:SS" into a complete struct tm (weekday and day of year filled in). */
static struct tm parse_now(const char *s) {
    struct tm tm = {0};
    if (s && sscanf(s, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                    &tm.tm_sec) == 6) {
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        time_t t = timegm(&tm);
        gmtime_r(&t, &tm);
    }
    return tm;
}

/* Prints where two renderings part, with some context. */
static void show_diff(const char *name, const char *want, const char *got) {
    size_t i = 0;
    while (want[i] && want[i] == got[i]) i++;
    size_t from = i > 40 ? i - 40 : 0;
    fprintf(stderr, "  %s: differs at byte %zu\n    want: \"%.80s\"\n    got:  \"%.80s\"\n", name, i, want + from,
            got + from);
}

static const char *str_or_null(const cJSON *j) { return cJSON_IsString(j) ? j->valuestring : NULL; }

/* ---- fixtures rendered by transformers ---- */

static const char *fixture_path;
static int fixture_cases;

static char *fixture_template(const char *path) {
    const char *suffix = "/tokenizer_config.json";
    size_t n = strlen(path), k = strlen(suffix);
    if (n > k && strcmp(path + n - k, suffix) == 0) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%.*s", (int)(n - k), path);
        return slm_chat_template_load(dir);
    }
    return read_file(path);
}

/* The case's messages through slm_chat_render (role/content only), which must agree with the request API. */
static void check_simple_api(const char *tpl, const cJSON *c, const cJSON *fx, const char *want) {
    const cJSON *msgs = cJSON_GetObjectItem(c, "messages");
    int n = cJSON_GetArraySize(msgs), i = 0;
    slm_chat_msg *m = calloc((size_t)n + 1, sizeof *m);
    for (const cJSON *x = msgs->child; x; x = x->next, i++) {
        m[i].role = str_or_null(cJSON_GetObjectItem(x, "role"));
        m[i].content = str_or_null(cJSON_GetObjectItem(x, "content"));
    }
    char *got = slm_chat_render(tpl, m, n, cJSON_IsTrue(cJSON_GetObjectItem(c, "add_generation_prompt")),
                                str_or_null(cJSON_GetObjectItem(fx, "bos_token")),
                                str_or_null(cJSON_GetObjectItem(fx, "eos_token")));
    CHECK(got && strcmp(got, want) == 0, "slm_chat_render disagrees with slm_chat_render_request: %s",
          got ? "different text" : slm_error());
    free(got);
    free(m);
}

static void check_fixture_file(void) {
    char *text = read_file(fixture_path);
    cJSON *fx = text ? cJSON_Parse(text) : NULL;
    free(text);
    CHECK(fx != NULL, "cannot read %s", fixture_path);
    if (!fx) return;
    const char *tpl_path = str_or_null(cJSON_GetObjectItem(fx, "template"));
    char *tpl = tpl_path ? fixture_template(tpl_path) : NULL;
    CHECK(tpl != NULL, "%s: cannot load template %s: %s", fixture_path, tpl_path ? tpl_path : "?", slm_error());
    struct tm now = parse_now(str_or_null(cJSON_GetObjectItem(fx, "now")));
    const cJSON *cases = cJSON_GetObjectItem(fx, "cases");
    for (const cJSON *c = cases ? cases->child : NULL; c && tpl; c = c->next) {
        const char *name = str_or_null(cJSON_GetObjectItem(c, "name"));
        char *msgs = cJSON_PrintUnformatted(cJSON_GetObjectItem(c, "messages"));
        const cJSON *tools = cJSON_GetObjectItem(c, "tools"), *vars = cJSON_GetObjectItem(c, "vars");
        char *tools_json = tools ? cJSON_PrintUnformatted(tools) : NULL;
        char *vars_json = vars ? cJSON_PrintUnformatted(vars) : NULL;
        slm_chat_request req = {
            .messages_json = msgs,
            .tools_json = tools_json,
            .vars_json = vars_json,
            .add_generation_prompt = cJSON_IsTrue(cJSON_GetObjectItem(c, "add_generation_prompt")),
            .bos_token = str_or_null(cJSON_GetObjectItem(fx, "bos_token")),
            .eos_token = str_or_null(cJSON_GetObjectItem(fx, "eos_token")),
            .now = &now,
        };
        char *got = slm_chat_render_request(tpl, &req);
        const char *want = str_or_null(cJSON_GetObjectItem(c, "expected"));
        const char *err = str_or_null(cJSON_GetObjectItem(c, "error"));
        const char *err_type = str_or_null(cJSON_GetObjectItem(c, "error_type"));
        if (want) {
            CHECK(got != NULL, "%s / %s: failed: %s", fixture_path, name, slm_error());
            if (got && strcmp(got, want) != 0) {
                show_diff(name, want, got);
                CHECK(0, "%s / %s: rendering differs from transformers", fixture_path, name);
            }
            if (got && !tools && !vars && !strstr(tpl, "strftime_now")) check_simple_api(tpl, c, fx, want);
        } else {
            CHECK(got == NULL, "%s / %s: rendered, but transformers fails with %s: %s", fixture_path, name,
                  err_type ? err_type : "?", err ? err : "?");
            /* raise_exception() and undefined names must report transformers' own message */
            if (!got && err && err_type && (!strcmp(err_type, "TemplateError") || !strcmp(err_type, "UndefinedError")))
                CHECK(strstr(slm_error(), err) != NULL, "%s / %s: error \"%s\" lacks \"%s\"", fixture_path, name,
                      slm_error(), err);
        }
        fixture_cases++;
        free(got);
        free(msgs);
        free(tools_json);
        free(vars_json);
    }
    free(tpl);
    cJSON_Delete(fx);
}

/* The interpreter on small templates (expressions, filters, tests, loops, scoping, whitespace control). */
static void check_snippets(void) {
    char *text = read_file(fixture_path);
    cJSON *fx = text ? cJSON_Parse(text) : NULL;
    free(text);
    CHECK(fx != NULL, "cannot read %s", fixture_path);
    if (!fx) return;
    const cJSON *vars = cJSON_GetObjectItem(fx, "vars");
    struct tm now = parse_now(str_or_null(cJSON_GetObjectItem(fx, "now")));
    for (const cJSON *c = cJSON_GetObjectItem(fx, "cases")->child; c; c = c->next) {
        const char *src = str_or_null(cJSON_GetObjectItem(c, "template"));
        const char *want = str_or_null(cJSON_GetObjectItem(c, "expected"));
        const char *err = str_or_null(cJSON_GetObjectItem(c, "error"));
        const char *err_type = str_or_null(cJSON_GetObjectItem(c, "error_type"));
        jinja_template *t = jinja_parse(src);
        char *got = t ? jinja_render(t, vars, &now) : NULL;
        if (want) {
            CHECK(got != NULL, "snippet %s: failed: %s", src, slm_error());
            if (got && strcmp(got, want) != 0) {
                show_diff("snippet", want, got);
                CHECK(0, "snippet %s: differs from transformers", src);
            }
        } else {
            CHECK(got == NULL, "snippet %s: rendered \"%s\", transformers fails with %s: %s", src, got ? got : "",
                  err_type, err);
            if (!got && (!strcmp(err_type, "TemplateError") || !strcmp(err_type, "UndefinedError")))
                CHECK(strstr(slm_error(), err) != NULL, "snippet %s: error \"%s\" lacks \"%s\"", src, slm_error(), err);
        }
        fixture_cases++;
        free(got);
        jinja_free(t);
    }
    cJSON_Delete(fx);
}

static void no_fixtures(void) { CHECK(0, "no %s folder (run from the repository root)", FIXTURES); }

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The fixture files' names, sorted; -1 when the folder is missing. */
static int fixture_names(char **names, int max) {
    DIR *d = opendir(FIXTURES);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        size_t l = strlen(e->d_name);
        if (l > 5 && strcmp(e->d_name + l - 5, ".json") == 0) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    return n;
}

static void run_fixtures(void) {
    char *names[256];
    int n = fixture_names(names, 256);
    if (n < 0) {
        test_run("fixtures_present", no_fixtures);
        return;
    }
    char path[512];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, FIXTURES "/%s", names[i]);
        fixture_path = path;
        test_run(names[i], strcmp(names[i], "_snippets.json") == 0 ? check_snippets : check_fixture_file);
        free(names[i]);
    }
}

/* ---- hand-written cases ---- */

/* Renders src with the JSON variables; returns malloc'd text or NULL. */
static char *render(const char *src, const char *vars_json) {
    cJSON *vars = vars_json ? cJSON_Parse(vars_json) : NULL;
    jinja_template *t = jinja_parse(src);
    char *out = t ? jinja_render(t, vars, NULL) : NULL;
    jinja_free(t);
    cJSON_Delete(vars);
    return out;
}

static void expect_error(const char *src, const char *want) {
    char *out = render(src, "{\"x\": \"text\", \"xs\": [1, 2]}");
    CHECK(out == NULL, "\"%.60s\" rendered \"%.60s\", expected an error", src, out ? out : "");
    if (!out) CHECK(strstr(slm_error(), want) != NULL, "error \"%s\" lacks \"%s\"", slm_error(), want);
    free(out);
}

static void test_errors_name_construct_and_line(void) {
    expect_error("a\nb\n{{ x | nosuchfilter }}", "chat template line 3: unknown filter 'nosuchfilter'");
    expect_error("a\n{{ x | wordwrap }}", "chat template line 2: filter 'wordwrap' is not supported");
    expect_error("{% if x %}\n{{ x is nosuchtest }}{% endif %}", "chat template line 2: unknown test 'nosuchtest'");
    expect_error("\n\n{% include 'other.jinja' %}", "chat template line 3: tag 'include' is not supported");
    expect_error("{% frobnicate %}", "chat template line 1: unknown tag 'frobnicate'");
    /* a quoted name with a newline in it stays on the error's one line */
    expect_error("{{ (xs['one\ntwo'] + 1) }}", "attribute 'one\\ntwo'");
    CHECK(strchr(slm_error(), '\n') == NULL, "error spans lines: %s", slm_error());
    expect_error("{% for m in xs %}\n{{ m }}\n", "the 'for' block opened on line 1 is not closed");
    expect_error("{% if x %}a{% else %}b", "the 'if' block opened on line 1 is not closed");
    expect_error("{% macro f() %}", "'macro' block opened on line 1 is not closed");
    expect_error("{{ x ", "not closed");
    expect_error("{# comment", "missing end of comment tag");
    expect_error("{{ 'abc }}", "unterminated string");
    expect_error("{% endif %}", "unexpected 'endif'");
    expect_error("{% break %}", "'break' outside a for loop");
    expect_error("x\n{{ raise_exception('Conversation roles must alternate') }}",
                 "chat template line 2: Conversation roles must alternate");
    expect_error("{{ nope + 1 }}", "'nope' is undefined");
    expect_error("{{ x.y.z }}", "'str object' has no attribute 'y'");
    expect_error("{{ x() }}", "'str' object is not callable");
    expect_error("{{ '%s' % x }}", "string formatting with '%' is not supported");
    expect_error("{{ x.format(1) }}", "str method 'format' is not supported");
    expect_error("{% call foo() %}{% endcall %}", "tag 'call' is not supported");
    expect_error("{% for a in xs recursive %}{% endfor %}", "recursive for loops are not supported");
    expect_error("{{ x|batch(2) }}", "filter 'batch' is not supported");
    expect_error("{{ lipsum() }}", "function 'lipsum' is not supported");
    expect_error("{{ xs.append(3) }}", "'append' of 'list' object is unsafe");
    /* invalid UTF-8 in the template or the input */
    expect_error("\xff\xfe", "not valid UTF-8");
    slm_chat_msg bad[] = {{"user", "caf\xe9"}};
    char *out = slm_chat_render("{{ messages[0].content }}", bad, 1, 1, NULL, NULL);
    CHECK(out == NULL && strstr(slm_error(), "not valid UTF-8"), "invalid UTF-8 content accepted");
    free(out);
}

static void test_hostile_templates_end_with_an_error(void) {
    /* deep nesting of expressions, blocks and macro recursion */
    size_t n = 20000;
    char *src = malloc(n * 8 + 16);
    size_t k = 0;
    k += (size_t)sprintf(src, "{{ ");
    for (size_t i = 0; i < n; i++) src[k++] = '(';
    src[k++] = '1';
    for (size_t i = 0; i < n; i++) src[k++] = ')';
    strcpy(src + k, " }}");
    expect_error(src, "nested too deeply");
    k = 0;
    for (size_t i = 0; i < 5000; i++) k += (size_t)sprintf(src + k, "{%% if 1 %%}");
    src[k] = 0;
    expect_error(src, "nested too deeply");
    k = (size_t)sprintf(src, "{{ 1");
    for (size_t i = 0; i < n / 4; i++) k += (size_t)sprintf(src + k, " + 1");
    strcpy(src + k, " }}");
    expect_error(src, "nested too deeply");
    k = (size_t)sprintf(src, "{{ ");
    for (size_t i = 0; i < n / 2; i++) k += (size_t)sprintf(src + k, "not ");
    strcpy(src + k, "1 }}");
    expect_error(src, "nested too deeply");
    k = (size_t)sprintf(src, "{{ ");
    for (size_t i = 0; i < n / 2; i++) src[k++] = '[';
    for (size_t i = 0; i < n / 2; i++) src[k++] = ']';
    strcpy(src + k, " }}");
    expect_error(src, "nested too deeply");
    free(src);
    expect_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "macro calls nested deeper");
    expect_error("{% macro f() %}{{ g() }}{% endmacro %}{% macro g() %}{{ f() }}{% endmacro %}{{ f() }}",
                 "macro calls nested deeper");
    /* runaway work and memory */
    expect_error("{% set r = range(100000) %}{% for i in r %}{% for j in r %}{% endfor %}{% endfor %}",
                 "steps");
    expect_error("{{ range(100001) | length }}", "Range too big");
    expect_error("{% set ns = namespace(s='xy') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                 "MiB");
    expect_error("{{ 'x' * 1000000000 }}", "too large");
    expect_error("{{ [1, 2] * 1000000000 }}", "too large");
    expect_error("{% set ns = namespace(l=[]) %}{% for i in range(2000) %}{% set ns.l = [ns.l] %}{% endfor %}"
                 "{{ ns.l }}",
                 "nested too deeply");
    expect_error("{% set ns = namespace() %}{% set ns.self = ns %}{{ ns | tojson }}", "not JSON serializable");
    expect_error("{% set ns = namespace() %}{% set ns.self = ns %}{{ ns }}", "nested too deeply");
    expect_error("{{ 9223372036854775807 + 1 }}", "integer overflow");
    /* digits past the lexer's buffer, then a fraction or an exponent */
    char num[400];
    for (int k = 0; k < 3; k++) {
        sprintf(num, "{{ ");
        memset(num + 3, '7', 130 + k);
        strcpy(num + 133 + k, k == 0 ? ".5 }}" : k == 1 ? "e-5 }}" : ".5e+5 }}");
        expect_error(num, "number literal too long");
    }
    expect_error("{{ 2 ** 64 }}", "integer overflow");
}

static void test_whitespace_control(void) {
    static const char *const cases[][2] = {
        {"a  {%- if true %} b{% endif %}", "a b"},
        {"a {% if true -%}   b{% endif %}", "a b"},
        {"  {% if true %}\nx\n  {% endif %}\ny", "x\ny"},
        {"{% if true %}\n\nx{% endif %}", "\nx"},
        {"x{{ 1 }}\n", "x1"},
        {"{{ 1 }}\n\n", "1\n"},
        {"a\r\nb\r{{ 'c' }}", "a\nb\nc"},
        {"{%- set x = 1 -%}\n  {{ x }}  \n", "1  "},
        {"  {#- c -#}  x", "x"},
        {"\t{% raw -%}  {{ a }}{%- endraw %}|", "{{ a }}|"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *out = render(cases[i][0], NULL);
        CHECK(out && strcmp(out, cases[i][1]) == 0, "%s: got \"%s\", want \"%s\"", cases[i][0], out ? out : slm_error(),
              cases[i][1]);
        free(out);
    }
}

static void test_builtin_templates(void) {
    slm_chat_msg conv[] = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "Bye"}};
    static const char *const want[][2] = {
        {"chatml", "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
                   "Hello<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"},
        {"llama3", "<B><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user"
                   "<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|>"
                   "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant"
                   "<|end_header_id|>\n\n"},
        {"llama2", "<B>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello <E><B>[INST] Bye [/INST]"},
        {"mistral", "<B>[INST] Hi[/INST] Hello<E>[INST] Be brief.\n\nBye[/INST]"},
        {"phi3", "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello<|end|>\n<|user|>\nBye"
                 "<|end|>\n<|assistant|>\n"},
        {"gemma", "<B><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n"
                  "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"},
        {"zephyr", "<|system|>\nBe brief.<E>\n<|user|>\nHi<E>\n<|assistant|>\nHello<E>\n<|user|>\nBye<E>\n"
                   "<|assistant|>\n"},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const char *src = slm_chat_builtin(want[i][0]);
        CHECK(src != NULL, "builtin %s missing", want[i][0]);
        if (!src) continue;
        char *out = slm_chat_render(src, conv, 4, 1, "<B>", "<E>");
        CHECK(out && strcmp(out, want[i][1]) == 0, "builtin %s: got \"%s\"", want[i][0], out ? out : slm_error());
        free(out);
    }
    int count = 0;
    for (const char *const *n = slm_chat_builtin_names(); *n; n++) count++;
    CHECK(count == 7, "%d builtin names", count);
    CHECK(slm_chat_builtin("nosuch") == NULL, "unknown builtin name");
    /* alternation is checked where the model's own template checks it */
    slm_chat_msg bad[] = {{"user", "a"}, {"user", "b"}};
    char *out = slm_chat_render(slm_chat_builtin("mistral"), bad, 2, 1, "<s>", "</s>");
    CHECK(out == NULL && strstr(slm_error(), "must alternate"), "mistral builtin accepted user/user");
    free(out);
}

static void test_template_loading(void) {
    char *t = slm_chat_template_load("../shared/tokenizers/phi-3-mini");
    CHECK(t && strstr(t, "<|assistant|>"), "phi-3-mini template: %s", t ? "wrong text" : slm_error());
    free(t);
    t = slm_chat_template_load("../shared/tokenizers/llama2");
    CHECK(t == NULL && strstr(slm_error(), "../shared/tokenizers/llama2") && strstr(slm_error(), "no chat template"),
          "llama2 has no template: %s", slm_error());
    free(t);
    t = slm_chat_template_load("/nonexistent-dir");
    CHECK(t == NULL && strstr(slm_error(), "/nonexistent-dir"), "missing folder: %s", slm_error());
    free(t);

    char dir[] = "/tmp/slm_chat_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp failed");
        return;
    }
    char path[256], path2[256];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    write_file(path, "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}, "
                     "{\"name\": \"default\", \"template\": \"D{{ 1 }}\"}]}");
    t = slm_chat_template_load(dir);
    CHECK(t && strcmp(t, "D{{ 1 }}") == 0, "list form: %s", t ? t : slm_error());
    free(t);
    write_file(path, "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}]}");
    t = slm_chat_template_load(dir);
    CHECK(t == NULL && strstr(slm_error(), "no template named \"default\"") && strstr(slm_error(), "tool_use"),
          "no default: %s", slm_error());
    free(t);
    write_file(path, "{\"chat_template\": 5}");
    t = slm_chat_template_load(dir);
    CHECK(t == NULL && strstr(slm_error(), "chat_template"), "bad type: %s", slm_error());
    free(t);
    write_file(path, "{not json");
    t = slm_chat_template_load(dir);
    CHECK(t == NULL && strstr(slm_error(), "not valid JSON"), "bad JSON: %s", slm_error());
    free(t);
    /* chat_template.jinja wins over the config */
    snprintf(path2, sizeof path2, "%s/chat_template.jinja", dir);
    write_file(path2, "J");
    t = slm_chat_template_load(dir);
    CHECK(t && strcmp(t, "J") == 0, "chat_template.jinja: %s", t ? t : slm_error());
    free(t);
    unlink(path2);
    unlink(path);
    rmdir(dir);
}

static void test_render_api(void) {
    slm_chat_msg m[] = {{"user", "hi"}, {"assistant", NULL}};
    char *out = slm_chat_render("{% for x in messages %}{{ x.content is defined }},{% endfor %}"
                                "{{ bos_token is defined }}{{ eos_token }}{{ tools }}{{ documents }}"
                                "{{ add_generation_prompt }}",
                                m, 2, 0, NULL, "</s>");
    CHECK(out && strcmp(out, "True,False,False</s>NoneNoneFalse") == 0, "variables: %s", out ? out : slm_error());
    free(out);
    out = slm_chat_render("x", m, 0, 1, NULL, NULL);
    CHECK(out == NULL && strstr(slm_error(), "empty conversation"), "empty conversation accepted");
    free(out);
    out = slm_chat_render("{{ strftime_now('%Y') | length }}", m, 1, 1, NULL, NULL);
    CHECK(out && strcmp(out, "4") == 0, "strftime_now with the current date: %s", out ? out : slm_error());
    free(out);
    slm_chat_request req = {.messages_json = "[{\"role\": \"assistant\", \"content\": null, \"reasoning\": \"r\"}]"};
    out = slm_chat_render_request("{{ messages[0] | tojson }}", &req);
    CHECK(out && strcmp(out, "{\"thinking\": \"r\", \"role\": \"assistant\", \"reasoning\": \"r\", "
                             "\"reasoning_content\": \"r\"}") == 0,
          "message preparation: %s", out ? out : slm_error());
    free(out);
    req.messages_json = "{\"role\": \"user\"}";
    out = slm_chat_render_request("x", &req);
    CHECK(out == NULL && strstr(slm_error(), "not a JSON array"), "messages must be an array");
    free(out);
    req.messages_json = "[{\"role\": \"user\"}]";
    req.vars_json = "{\"messages\": []}";
    out = slm_chat_render_request("x", &req);
    CHECK(out == NULL && strstr(slm_error(), "'messages' cannot be set"), "vars may not replace messages");
    free(out);
    req.vars_json = "{\"bos_token\": \"<X>\", \"extra\": [1, 2]}";
    req.bos_token = "<s>";
    out = slm_chat_render_request("{{ bos_token }}{{ extra | sum }}", &req);
    CHECK(out && strcmp(out, "<X>3") == 0, "extra vars: %s", out ? out : slm_error());
    free(out);
    /* a template is parsed once and may be rendered many times */
    jinja_template *t = jinja_parse("{{ n * 2 }}");
    cJSON *v = cJSON_Parse("{\"n\": 21}");
    for (int i = 0; i < 3; i++) {
        out = jinja_render(t, v, NULL);
        CHECK(out && strcmp(out, "42") == 0, "re-render %d", i);
        free(out);
    }
    cJSON_Delete(v);
    jinja_free(t);
}

/* ---- mutated templates ---- */

/* Pieces of Jinja syntax that mutations insert, so that mutants reach the parser's and evaluator's
 * deeper paths rather than failing on the first stray byte. */
static const char *const jinja_pieces[] = {
    "{{", "}}", "{%", "%}", "{#", "#}", "{%-", "-%}", "(", ")", "[", "]", "{", "}", "'", "\"", ",", ".", ":",
    "|", "~", "+", "-", "*", "**", "/", "//", "%", "==", "!=", "<", ">=", " not ", " and ", " or ", " in ",
    " is ", " if ", " else ", "for ", "endfor", "if ", "endif", "elif ", "set ", "endset", "macro ",
    "endmacro", "call", "filter ", "namespace(", "loop.", "range(", "messages", "[0]", "[-1]", "[::-1]",
    "[1:]", "|length", "|tojson", "|trim", "|join(", "|map(", "|selectattr(", "|items", "|first", "|string",
    "|default(", "|replace(", ".split(", ".strip()", "raise_exception(", "none", "true", "1e308", "-1",
    "9223372036854775807", "\\", "\n", "\xc3", "\xff",
};

static unsigned mut_rand(unsigned n) {
    float r = (test_randf() + 1.0f) / 2.0f;
    unsigned k = (unsigned)(r * (float)n);
    return k < n ? k : n - 1;
}

/* One to three edits of src: delete a span, repeat a span elsewhere, insert a piece of syntax, change a
 * byte, or cut the tail. Returns malloc'd text. */
static char *mutate(const char *src) {
    size_t n = strlen(src), cap = n + 4096;
    char *t = malloc(cap);
    memcpy(t, src, n + 1);
    int edits = 1 + (int)mut_rand(3);
    for (int e = 0; e < edits; e++) {
        size_t at = n ? mut_rand((unsigned)n) : 0;
        switch (mut_rand(5)) {
        case 0: { /* delete */
            size_t k = 1 + mut_rand(20);
            if (k > n - at) k = n - at;
            memmove(t + at, t + at + k, n - at - k + 1);
            n -= k;
            break;
        }
        case 1: { /* repeat a span elsewhere */
            size_t from = n ? mut_rand((unsigned)n) : 0, k = 1 + mut_rand(40);
            if (k > n - from) k = n - from;
            if (n + k + 1 > cap) break;
            char span[64];
            memcpy(span, t + from, k);
            memmove(t + at + k, t + at, n - at + 1);
            memcpy(t + at, span, k);
            n += k;
            break;
        }
        case 2: { /* insert syntax */
            const char *p = jinja_pieces[mut_rand(sizeof jinja_pieces / sizeof *jinja_pieces)];
            size_t k = strlen(p);
            if (n + k + 1 > cap) break;
            memmove(t + at + k, t + at, n - at + 1);
            memcpy(t + at, p, k);
            n += k;
            break;
        }
        case 3: /* change a byte */
            if (at < n) t[at] = (char)(1 + mut_rand(255));
            break;
        default: /* cut the tail */
            t[at] = 0;
            n = at;
        }
    }
    return t;
}

/* Every template of the fixtures, mutated many times, renders or fails with a one-line error naming the
 * template; never a crash (the sanitizer build runs this too), a hang or an empty message. */
static void test_mutated_templates(void) {
    char *names[256];
    int nnames = fixture_names(names, 256), rendered = 0, failed = 0, templates = 0;
    CHECK(nnames > 0, "no fixtures in %s", FIXTURES);
    char path[512];
    for (int f = 0; f < nnames; f++) {
        const char *name = names[f];
        if (name[0] == '_') continue; /* snippets, not a model's template */
        snprintf(path, sizeof path, FIXTURES "/%s", name);
        char *text = read_file(path);
        cJSON *fx = text ? cJSON_Parse(text) : NULL;
        free(text);
        const char *tpl_path = str_or_null(cJSON_GetObjectItem(fx, "template"));
        char *tpl = tpl_path ? fixture_template(tpl_path) : NULL;
        const cJSON *c = cJSON_GetObjectItem(fx, "cases");
        c = c ? c->child : NULL;
        if (!tpl || !c) {
            free(tpl);
            cJSON_Delete(fx);
            continue;
        }
        templates++;
        char *msgs = cJSON_PrintUnformatted(cJSON_GetObjectItem(c, "messages"));
        const cJSON *tools = cJSON_GetObjectItem(c, "tools");
        char *tools_json = tools ? cJSON_PrintUnformatted(tools) : NULL;
        struct tm now = parse_now("2024-07-26 12:00:00");
        slm_chat_request req = {.messages_json = msgs, .tools_json = tools_json, .add_generation_prompt = 1,
                                .bos_token = "<s>", .eos_token = "</s>", .now = &now};
        for (int k = 0; k < 400; k++) {
            char *m = mutate(tpl);
            char *out = slm_chat_render_request(m, &req);
            if (out) {
                rendered++;
            } else {
                const char *err = slm_error();
                failed++;
                CHECK(strncmp(err, "chat template", 13) == 0 && !strchr(err, '\n'),
                      "%s, mutant %d: error \"%.200s\"", name, k, err);
            }
            free(out);
            free(m);
        }
        free(msgs);
        free(tools_json);
        free(tpl);
        cJSON_Delete(fx);
    }
    for (int f = 0; f < nnames; f++) free(names[f]);
    CHECK(templates >= 20, "only %d fixture templates", templates);
    CHECK(rendered > 0 && failed > 0, "mutants: %d rendered, %d failed", rendered, failed);
    printf("(%d templates: %d mutants rendered, %d failed)\n", templates, rendered, failed);
}

int main(void) {
    run_fixtures();
    RUN(test_errors_name_construct_and_line);
    RUN(test_hostile_templates_end_with_an_error);
    RUN(test_whitespace_control);
    RUN(test_builtin_templates);
    RUN(test_template_loading);
    RUN(test_render_api);
    RUN(test_mutated_templates);
    printf("(%d fixture cases)\n", fixture_cases);
    return test_summary();
}
