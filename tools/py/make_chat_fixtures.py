#!/usr/bin/env python3
"""Reference renderings of chat templates, for tests/test_chat_template.c.

Writes, relative to the repository root:
  tests/fixtures/chat/<template>.json   one file per chat template: the template's path (under ../shared),
                                        bos/eos strings, the fixed clock, and cases (messages, optional
                                        tools, add_generation_prompt, expected text or expected error)
  tests/fixtures/chat/_snippets.json    small templates exercising the interpreter (expressions, filters,
                                        tests, loops, scoping, whitespace control), with their output

The reference is transformers' own renderer (transformers.utils.chat_template_utils.render_jinja_template,
which apply_chat_template(..., tokenize=False) calls) with the Jinja environment transformers builds:
ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, its tojson, raise_exception and
strftime_now. strftime_now's clock is fixed at NOW so that the output is reproducible.

Usage (from the repository root):  python3 tools/py/make_chat_fixtures.py
Needs: transformers, jinja2 (>= 3.1.6).
"""

import datetime
import json
import os

import jinja2
import transformers
import transformers.utils.chat_template_utils as ctu

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "chat")
NOW = datetime.datetime(2024, 9, 17, 10, 30, 0)


class FixedClock(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return NOW


# strftime_now() reads the module's datetime when called.
ctu.datetime = FixedClock

CT = "../shared/chat-templates/"
TK = "../shared/tokenizers/"
LLAMA3 = ("<|begin_of_text|>", "<|eot_id|>")
DEEPSEEK = ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>")

# (fixture name, template path relative to the repository root, bos, eos); None for bos/eos taken from the
# tokenizer_config.json the template comes from.
TEMPLATES = [
    ("llama-3.1", CT + "meta-llama-Llama-3.1-8B-Instruct.jinja", *LLAMA3),
    ("llama-3.2", CT + "meta-llama-Llama-3.2-3B-Instruct.jinja", *LLAMA3),
    ("llama-3.3", CT + "meta-llama-Llama-3.3-70B-Instruct.jinja", *LLAMA3),
    ("qwen2.5", CT + "Qwen-Qwen2.5-7B-Instruct.jinja", None, "<|im_end|>"),
    ("gemma-2", CT + "google-gemma-2-2b-it.jinja", "<bos>", "<eos>"),
    ("phi-3.5", CT + "microsoft-Phi-3.5-mini-instruct.jinja", "<s>", "<|endoftext|>"),
    ("mistral-nemo", CT + "mistralai-Mistral-Nemo-Instruct-2407.jinja", "<s>", "</s>"),
    ("deepseek-r1-distill-llama", CT + "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja", *DEEPSEEK),
    ("deepseek-r1-distill-qwen", CT + "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", *DEEPSEEK),
    ("deepseek-r1-llama-cpp", CT + "llama-cpp-deepseek-r1.jinja", *DEEPSEEK),
    ("hermes-2-pro", CT + "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", "<|begin_of_text|>", "<|im_end|>"),
    ("hermes-3", CT + "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", "<|begin_of_text|>", "<|im_end|>"),
    ("command-r-plus", CT + "CohereForAI-c4ai-command-r-plus-tool_use.jinja", "<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>"),
    ("command-r7b", CT + "CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja", "<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>"),
    ("functionary-3.1", CT + "meetkai-functionary-medium-v3.1.jinja", *LLAMA3),
    ("functionary-3.2", CT + "meetkai-functionary-medium-v3.2.jinja", *LLAMA3),
    ("firefunction-2", CT + "fireworks-ai-llama-3-firefunction-v2.jinja", *LLAMA3),
    ("smollm2-instruct", TK + "smollm2/instruct-chat_template.jinja", "<|endoftext|>", "<|endoftext|>"),
    ("smollm2", TK + "smollm2/tokenizer_config.json", None, None),
    ("phi-3-mini", TK + "phi-3-mini/tokenizer_config.json", None, None),
    ("mistral-v0.3", TK + "mistral-v0.3/tokenizer_config.json", None, None),
    ("llama3-config", TK + "llama3/tokenizer_config.json", None, None),
    ("qwen2-config", TK + "qwen2/tokenizer_config.json", None, None),
    ("qwen3-config", TK + "qwen3/tokenizer_config.json", None, None),
    ("gpt2-config", TK + "gpt2/tokenizer_config.json", None, None),
]

SYS = "You are a helpful assistant."


def msg(role, content):
    return {"role": role, "content": content}


def u(c):
    return msg("user", c)


def a(c):
    return msg("assistant", c)


def s(c):
    return msg("system", c)


TRICKY = ("Line one\nLine \"two\" isn't 'three'\n\ttabbed \\ backslash — ünïcödé 日本語 🙂 "
          "{{ not a tag }} {% raw %} <|im_end|>  ")

CONVERSATIONS = [
    ("user", [u("Hello!")], True),
    ("user-no-prompt", [u("Hello!")], False),
    ("system-user", [s(SYS), u("What is 2+2?")], True),
    ("multi-turn", [u("Hi"), a("Hello! How can I help?"), u("Tell me a joke.")], True),
    ("system-multi-turn", [s(SYS), u("Hi"), a("Hello!"), u("Bye")], True),
    ("system-multi-turn-no-prompt", [s(SYS), u("Hi"), a("Hello!")], False),
    ("tricky-content", [s("  Be brief.\n\n"), u(TRICKY)], True),
    ("tricky-no-system", [u(TRICKY), a(" Sure:\n- a\n- b \n"), u("Thanks\r\nbye")], True),
    ("whitespace", [u("  padded  \n\n")], True),
    ("empty-content", [u("")], True),
    ("think", [u("2+2?"), a("<think>\nadd them\n</think>\n\n4"), u("3+3?")], True),
    ("long", [s(SYS)] + [m for i in range(6) for m in (u("question %d" % i), a("answer %d" % i))] + [u("last")], True),
    ("assistant-first", [a("I start."), u("ok")], True),
    ("two-users", [u("one"), u("two")], True),
    ("system-only", [s(SYS)], True),
    ("ends-with-assistant", [u("Hi"), a("Hello")], False),
]

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "The city name"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit"}},
        "required": ["city"]}}}]
TOOL_CALL = {"id": "call12345", "type": "function",
             "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}
TOOL_CALL_STR = {"id": "call12345", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}

TOOL_CONVERSATIONS = [
    ("tools-user", [u("Weather in Paris?")], True),
    ("tools-call", [s(SYS), u("Weather in Paris?"), {"role": "assistant", "tool_calls": [TOOL_CALL]},
                    {"role": "tool", "tool_call_id": "call12345", "name": "get_weather", "content": "22 C, sunny"}],
     True),
    ("tools-call-string-args", [u("Weather in Paris?"), {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL_STR]},
                                {"role": "tool", "tool_call_id": "call12345", "content": "22 C, sunny"}], True),
]

# Plain chats with an empty tool list, and with extra variables (apply_chat_template's **kwargs).
EXTRA_CONVERSATIONS = [
    ("empty-tools", [s(SYS), u("Hi"), a("Hello!"), u("Bye")], [], None, True),
    ("kwargs", [s(SYS), u("What day is it?")], None,
     {"date_string": "01 Jan 2025", "functions": "[]", "datetime": "2025-01-01", "bos_token": "<BOS>"}, True),
]

# Small templates for the interpreter itself, rendered with SNIPPET_VARS.
SNIPPET_VARS = {
    "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
    "xs": [1, 2, 3], "d": {"a": 1, "b": [1, 2]}, "s": "Hello World", "n": None, "e": [],
    "u": "héllo wörld ß", "f": 1.5, "big": 2 ** 40,
}

SNIPPETS = [
    # scoping
    "{% set x = 0 %}{% for i in [1,2] %}{{ x }}{% set x = x + 1 %}{{ x }}{% endfor %}{{ x }}",
    "{% for i in [1,2] %}{% if i == 2 %}{{ y }}{% endif %}{% set y = i %}{% endfor %}[{{ y }}]",
    "{% if true %}{% set z = 1 %}{% endif %}{{ z }}",
    "{% macro f() %}{{ z }}{% endmacro %}{% set z = 5 %}{{ f() }}",
    "{% macro f() %}{% set q = 3 %}{{ q }}{% endmacro %}{{ f() }}[{{ q }}]",
    "{% set x = 1 %}{% with x = 2, y = 3 %}{{ x }}{{ y }}{% endwith %}{{ x }}{{ y }}",
    "{% set ns = namespace(a=1, b=[]) %}{% for i in xs %}{% set ns.a = ns.a + i %}{% set ns.b = ns.b + [i] %}"
    "{% endfor %}{{ ns.a }} {{ ns.b }}",
    "{% set ns = namespace() %}{% set ns.k = 'v' %}{{ ns.k }}{{ ns.missing is defined }}",
    # loops
    "{% for i in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
    "{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}",
    "{% for i in xs %}[{{ loop.previtem }}|{{ loop.nextitem }}]{% endfor %}",
    "{% for x in xs if x > 1 %}{{ loop.index }}/{{ loop.length }} {% else %}none{% endfor %}",
    "{% for x in [] %}a{% else %}none{% endfor %}",
    "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}",
    "{% for c in 'héj' %}<{{ c }}>{% endfor %}",
    "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}"
    "{{ i }}{% endfor %}",
    "{% for a in xs %}{% for b in xs %}{% if b == 2 %}{% break %}{% endif %}{{ a }}{{ b }} {% endfor %}"
    "{{ loop.index }};{% endfor %}",
    "{% for i in xs %}{{ loop.cycle('odd', 'even') }} {% endfor %}",
    "{% for m in messages %}{{ m.role }}:{{ m['content'] }}{{ ',' if not loop.last }}{% endfor %}",
    "{{ range(3) | list }} {{ range(1, 10, 3) | list }} {{ range(5, 0, -2) | list }}",
    # whitespace control with trim_blocks / lstrip_blocks
    "  {% if true %}\n  a\n  {% endif %}\nb  {# c #}\n  {#- d #}\nx",
    "  {{ 1 }}\n  {%+ if true %}x{% endif +%}\ny",
    "a\n  {% raw %}{{ x }}  {% endraw %}\nb",
    "{%- if true -%}\n\n  a  \n\n{%- endif -%}\n  b",
    "x {{- ' y ' -}} z\n{{ 1 }}\n{{ 2 -}}\n  3",
    "line1\n    {% for i in xs %}\n    item {{ i }}\n    {% endfor %}\nend\n",
    "{% if true %}a{% endif %}   \n{% if true %}b{% endif %}\n",
    "\t{% set x = 1 %}\t\n{{ x }}",
    "{# comment #}\n{#- c2 -#}   \n{{ 'k' }}",
    # literals and operators
    "{{ [1, 'a', none, true, 1.5, (1,2), {'k': \"it's\"}, (1,), ()] }}",
    "{{ 1/2 }} {{ 4/2 }} {{ 7//2 }} {{ -7 % 3 }} {{ 2**10 }} {{ 1e20 }} {{ 1.5e-7 }} {{ 0.1+0.2 }} {{ 7.5 // 2 }} "
    "{{ -7.5 % 2 }} {{ 1e16 }} {{ 1e15 }} {{ 123456789.123 }} {{ 0.0001 }} {{ 0.00001 }} {{ 1_000 }} {{ 0x1F }}",
    "{{ 'ab' * 3 }} {{ 3 * 'ab' }} {{ [1] * 2 }} {{ -2 ** 2 }} {{ 2 ** -1 }} {{ 10 % 3.5 }} {{ true + 1 }} {{ big * 4 }}",
    "{{ 'x' ~ 1 ~ none ~ 2.0 ~ undefined_thing ~ [1] }}",
    "{{ 'a\\tb\\\\c\\x41\\u00e9\\n' }}|{{ 'a' 'b' }}|{{ \"a\\qb\" }}|{{ 'it\\'s' }}",
    "{{ 1 if false }}|{{ (1 if false) is defined }}|{{ 'y' if xs else 'n' }}|{{ 'a' if 0 else 'b' if 1 else 'c' }}",
    "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'abc' < 'abd' }} {{ [1,2] < [1,3] }} {{ (1,2) + (3,) }} {{ 1 == 1.0 }}",
    "{{ messages[0] == {'content': 'hi', 'role': 'user'} }} {{ true == 1 }} {{ [1] == (1,) }} {{ none == none }}",
    "{{ xs and 'yes' }} {{ e or 'empty' }} {{ not e }} {{ n or 0 }} {{ 0 and 1 }}",
    "{{ 'ell' in s }} {{ 2 in xs }} {{ 'a' in d }} {{ 'z' not in d }} {{ not 1 in xs }} {{ 'x' in undefined_thing }}",
    "{% if not x is defined %}A{% endif %}{% if x is not defined %}B{% endif %}{% if not (x is defined) %}C{% endif %}",
    "{{ -f }} {{ +3 }} {{ -xs|length }} {{ (xs|length) - 1 }}",
    # attribute and item access
    "{{ xs.0 }} {{ messages.0.role }} {{ xs[1] }} {{ d['b'][1] }} {{ d.b.1 }} {{ messages[-1].content }}",
    "{{ n.foo }}|{{ n.foo is defined }}|{{ s.foo }}|{{ s.foo is defined }}|{{ xs[10] is defined }}|{{ d.zz is defined }}",
    "{{ 'abc'[::-1] }} {{ 'héllo'[1:3] }} {{ 'héllo'|length }} {{ [1,2,3][-1] }} {{ 'héllo'[1] }} {{ xs[::2] }} "
    "{{ xs[-2:] }} {{ xs[5:] }} {{ 'héllo'[::-2] }} {{ xs[:-1] }} {{ s[:5] }}",
    # string methods
    "{{ '  x y  '.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a b c'.split(' ', 1) }} {{ 'xxhixx'.strip('x') }} "
    "{{ '  a  b  c  '.split(None, 1) }} {{ '  a  b  c  '.rsplit(None, 1) }} {{ 'a,b,c'.rsplit(',', 1) }}",
    "{{ u.startswith('hé') }} {{ u.endswith(('x', 'ß')) }} {{ u.find('w') }} {{ u.replace('l', 'L', 2) }} "
    "{{ 'a-b-c'.split('-')[-1] }} {{ u.count('l') }} {{ ''.join(['a','b']) }} {{ s.lower() }} {{ s.upper() }}",
    "{{ '  pad '.lstrip() }}|{{ ' pad  '.rstrip() }}|{{ '\\n\\nx\\n'.strip('\\n') }}|{{ s.title() }}|"
    "{{ \"they're bill's\".title() }}|{{ 'hELLO'.capitalize() }}|{{ 'aBc'.swapcase() }}",
    "{{ 'a\\nb\\r\\nc'.splitlines() }} {{ 'k=v=w'.partition('=') }} {{ 'x'.zfill(3) }} {{ 'ab'.center(6, '*') }} "
    "{{ '12'.isdigit() }} {{ 'ab'.isalpha() }} {{ 'Ab'.islower() }} {{ 'pre_x'.removeprefix('pre_') }}",
    "{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 5) }} {{ d.keys() | list }} {{ d.values() | list }} "
    "{{ d.items() | list }} {{ xs.index(2) }} {{ xs.count(3) }}",
    # filters
    "{{ '  \\n abc \\t' | trim }}|{{ 'xxaxx' | trim('x') }}|{{ 'abc' | center(9) }}|{{ 'a\\nb\\n\\nc' | indent(2) }}|"
    "{{ 'a\\nb' | indent(2, first=true) }}|{{ 'a\\n\\nb' | indent(2, blank=true) }}|{{ 'a\\nb' | indent('> ') }}",
    "{{ 'hello world-foo(bar' | title }} {{ 'hELLO wORLD' | capitalize }} {{ 'ß' | upper }} {{ u|upper }} {{ s|lower }}",
    "{{ none | string }} {{ [1,2] | join }} {{ [1,'a'] | join(', ') }} {{ d | items | list }} {{ d | list }} "
    "{{ messages | join(',', attribute='role') }}",
    "{{ xs | first }} {{ xs | last }} {{ 'abc' | first }} {{ xs | length }} {{ d | length }} {{ 'héllo' | count }} "
    "{{ e | first is defined }}",
    "{{ '3' | int + 1 }} {{ 'x' | int }} {{ 3.7 | int }} {{ ' 4_2 ' | int }} {{ '3.9' | int }} {{ '1e3' | float }} "
    "{{ 'x' | int(7) }} {{ 'ff' | int(base=16) }} {{ true | int }} {{ 2 | float }} {{ 'nan' | float }}",
    "{{ undefined_thing | default('dflt') }} {{ '' | default('dflt') }} {{ '' | default('dflt', true) }} "
    "{{ none | default('d') }} {{ undefined_thing | d('x') }}",
    "{{ xs | map('string') | join('-') }} {{ [{'a':1},{'a':2}] | map(attribute='a') | list }} "
    "{{ [{'a':1},{'b':2}] | map(attribute='a', default=0) | list }} {{ ['a','B'] | map('upper') | list }}",
    "{{ [{'a':1},{'b':2}] | selectattr('a', 'defined') | list }} {{ [{'a':1},{'b':2}] | rejectattr('a') | list }} "
    "{{ xs | select('odd') | list }} {{ xs | reject('equalto', 2) | list }} {{ [0, 1, '', 'x'] | select | list }} "
    "{{ messages | selectattr('role', 'equalto', 'user') | list | length }} {{ xs | select('>', 1) | list }}",
    "{{ [3,1,2] | sort }} {{ ['b','A','a'] | sort }} {{ ['b','A','a'] | sort(case_sensitive=true) }} "
    "{{ ['b','A','a'] | unique | list }} {{ [3,1,2] | sort(reverse=true) }} {{ [{'n':2},{'n':1}] | sort(attribute='n') }}",
    "{{ xs | sum }} {{ xs | max }} {{ xs | min }} {{ [{'n':2},{'n':5}] | sum(attribute='n') }} "
    "{{ ['b', 'A'] | max }} {{ d | dictsort }}",
    "{{ u | wordcount }} {{ '<a href=\"x\">&\\'' | e }} {{ 3.14159 | round(2) }} {{ 2.5 | round }} {{ 2.567 | round(1, 'floor') }} "
    "{{ -3 | abs }} {{ xs | reverse | list }} {{ 'abc' | reverse }} {{ 'x' | safe }} {{ [1] | string }}",
    "{{ 'a-b' | replace('-', '+') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ 'ab' | replace('', '.') }} "
    "{{ d | attr('x') is defined }} {{ 'héllo' | list }}",
    # tojson
    "{{ d | tojson }} {{ d | tojson(indent=2) }} {{ 'é\\u0001<>&\\'\"\\\\\\n' | tojson }} {{ [] | tojson(indent=2) }} "
    "{{ {} | tojson }} {{ [1.0, none, true, 'x'] | tojson }}",
    "{{ xs | tojson(indent=4) }} {{ {'b': 1, 'a': [1, {'c': none}]} | tojson(sort_keys=true) }} "
    "{{ 'é' | tojson(ensure_ascii=true) }} {{ '😀' | tojson(ensure_ascii=true) }} {{ d | tojson(separators=(',', ':')) }}",
    "{{ (1, 2) | tojson }} {{ 1.0 | tojson }} {{ 1e100 | tojson }} {{ {1: 2, true: 3, none: 4} | tojson }} "
    "{{ messages | tojson(indent='\\t') }} {{ f | tojson }}",
    # tests
    "{{ xs is iterable }} {{ 's' is iterable }} {{ d is sequence }} {{ 1 is number }} {{ true is number }} "
    "{{ none is none }} {{ xs is mapping }} {{ d is mapping }} {{ 1 is string }} {{ nope is iterable }} "
    "{{ 1 is sequence }} {{ 'x' is string }} {{ f is float }} {{ 3 is integer }}",
    "{{ 1 is true }} {{ true is true }} {{ false is false }} {{ 2 is divisibleby 2 }} {{ 3 is odd }} {{ 4 is even }} "
    "{{ 'a' is equalto 'a' }} {{ 1 is eq 1 }} {{ 1 is ne 2 }} {{ 'abc' is lower }} {{ 'Abc' is upper }} "
    "{{ none is sameas none }} {{ 2 is gt 1 }} {{ 2 is lessthan 1 }} {{ 1 is in xs }} {{ true is boolean }}",
    # set blocks, filter blocks, macros
    "{% set x %}  hello {{ 1 }} {% endset %}[{{ x }}]{% set y | trim | upper %}  hi  {% endset %}[{{ y }}]",
    "{% filter upper %}abc {{ s }}{% endfilter %}|{% filter trim %}  x  {% endfilter %}|",
    "{% macro m(a, b=2, c=a) %}{{ a }}-{{ b }}-{{ c }}{% endmacro %}{{ m(1) }} {{ m(1, 3) }} {{ m(1, c=9) }} [{{ m() }}]",
    "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * (fact(n - 1) | int) }}{% endif %}{% endmacro %}{{ fact(6) }}",
    "{% macro wrap(t) -%}\n  <{{ t }}>\n{%- endmacro %}{{ wrap('x') }}{{ wrap('y') | length }}",
    "{% set ns = namespace(o='') %}{% macro add(v) %}{% set ns.o = ns.o ~ v %}{% endmacro %}{{ add(1) }}{{ add(2) }}"
    "{{ ns.o }}",
    "{% generation %}gen {{ 1 }}{% endgeneration %}",
    # strftime_now, globals
    "{{ strftime_now('%d %b %Y') }} {{ strftime_now('%Y-%m-%d %H:%M') }} {{ strftime_now is defined }}",
    "{{ dict(a=1, b=2) }} {{ namespace(x=1).x }} {{ dict(d, c=3) | length }}",
    # tag ends inside strings and dicts, generators, Markup (|safe) concatenation, float formatting
    "{{ \"}}\" }}|{% set x = \"%}\" %}{{ x }}|{{ {'a': {'b': 1}} }}|{{ {'a': {'b': 1}}['a'] }}|{{ '{{' }}{# {{ x }} #}",
    "{{ messages | selectattr('role', 'equalto', 'user') | list | tojson }} "
    "{% if messages | selectattr('role', 'equalto', 'nobody') %}a generator is true{% endif %} "
    "{% set g = xs | select('odd') %}{{ g | list }}{{ g | list }} {{ xs | reverse | join }}",
    "{{ 'a' | safe + '<b>' }} {{ '<a>' + 'b' | safe }} {{ ('x' | safe + \"'\") | length }} {{ '<' | e + '<' }} "
    "{{ '<' | e | e }} {{ ('a' | safe) ~ '<' }} {{ ('<' | safe) * 2 }} {{ ('<b>' | safe | upper) + '<' }}",
    "{{ 0.1 * 3 }} {{ 1/3 }} {{ 2/3 }} {{ 1e-5 }} {{ 123456789012345678.0 }} {{ 5e-324 }} "
    "{{ 1.7976931348623157e308 }} {{ 1.0e400 }} {{ -1e400 }} {{ 3 // -2 }} {{ -3 // 2 }} {{ 3 % -2 }} "
    "{{ -3.5 // 2 }} {{ 3.5 % -2 }} {{ -0.0 }} {{ 0.0 * -1 }} {{ 2.5 is even }} {{ 4.0 is divisibleby 2 }}",
    # errors
    "{{ undefined_thing + 'a' }}",
    "{{ xs | select('odd') | length }}",
    "{{ messages | map(attribute='role') | tojson }}",
    "{{ [] in {} }}",
    "{{ d.x.y }}",
    "{{ 1 < 'a' }}",
    "{{ xs + 'a' }}",
    "{{ 'a' + 1 }}",
    "{{ raise_exception('boom ' ~ 1) }}",
    "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}",
    "{{ foo(1) }}",
    "{{ 5 | foo }}",
    "{{ 5 is foo }}",
    "{% foo %}",
    "{% for x in xs %}",
    "{% if x %}{% endfor %}",
    "{{ 1 / 0 }}",
    "{{ xs[1:2:0] }}",
    "{{ n | tojson }}{{ undefined_thing | tojson }}",
    "{% set ns = namespace() %}{% set ns._x = 1 %}",
    "{{ range(1000000) | length }}",
    "{{ 'x'.nosuch() }}",
    "{% for a, b in xs %}{% endfor %}",
    "{{ 1 +}}",
    "{{ 'abc' }",
    "{% set x = 1 %}{% set x.y = 2 %}",
]


def render(template, messages, tools, add_generation_prompt, bos, eos, extra=None):
    """transformers' rendering; returns (text, None) or (None, (exception type, message))."""
    kwargs = {}
    if bos is not None:
        kwargs["bos_token"] = bos
    if eos is not None:
        kwargs["eos_token"] = eos
    kwargs.update(extra or {})
    # apply_chat_template drops keys whose value is None before rendering.
    messages = [{k: v for k, v in m.items() if v is not None} for m in messages]
    try:
        out, _ = ctu.render_jinja_template(conversations=[messages], tools=tools, chat_template=template,
                                           add_generation_prompt=add_generation_prompt, **kwargs)
        return out[0], None
    except Exception as e:  # the template's own errors are part of the reference
        return None, (type(e).__name__, str(e))


def token_string(tok):
    if isinstance(tok, dict):
        return tok.get("content")
    return tok


def load_template(path):
    full = os.path.join(ROOT, path)
    if path.endswith("tokenizer_config.json"):
        with open(full, encoding="utf-8") as f:
            cfg = json.load(f)
        tpl = cfg["chat_template"]
        if isinstance(tpl, list):
            tpl = {t["name"]: t["template"] for t in tpl}["default"]
        return tpl, token_string(cfg.get("bos_token")), token_string(cfg.get("eos_token"))
    with open(full, encoding="utf-8") as f:
        return f.read(), None, None


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def case_entry(name, messages, tools, agp, result, extra=None):
    text, err = result
    c = {"name": name, "messages": messages, "add_generation_prompt": agp}
    if tools is not None:
        c["tools"] = tools
    if extra is not None:
        c["vars"] = extra
    if err is None:
        c["expected"] = text
    else:
        c["error_type"], c["error"] = err
    return c


def write_fixture(fname, header, cases):
    body = ",\n".join(dumps(c) for c in cases)
    with open(os.path.join(OUT, fname), "w", encoding="utf-8") as f:
        f.write(dumps(header)[:-1] + ',"cases":[\n' + body + "\n]}\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    summary = []
    for name, path, bos, eos in TEMPLATES:
        tpl, cfg_bos, cfg_eos = load_template(path)
        if path.endswith("tokenizer_config.json"):
            bos, eos = cfg_bos, cfg_eos
        cases = []
        for cname, messages, agp in CONVERSATIONS:
            cases.append(case_entry(cname, messages, None, agp, render(tpl, messages, None, agp, bos, eos)))
        for cname, messages, agp in TOOL_CONVERSATIONS:
            cases.append(case_entry(cname, messages, TOOLS, agp, render(tpl, messages, TOOLS, agp, bos, eos)))
        for cname, messages, tools, extra, agp in EXTRA_CONVERSATIONS:
            cases.append(case_entry(cname, messages, tools, agp, render(tpl, messages, tools, agp, bos, eos, extra),
                                    extra))
        header = {"template": path, "bos_token": bos, "eos_token": eos, "now": NOW.strftime("%Y-%m-%d %H:%M:%S")}
        write_fixture(name + ".json", header, cases)
        errors = sum("error" in c for c in cases)
        summary.append("%-28s %2d cases, %2d expect an error" % (name, len(cases), errors))

    env = ctu._compile_jinja_template  # the same environment as for the templates
    cases = []
    for t in SNIPPETS:
        try:
            out = env(t).render(**SNIPPET_VARS)
            cases.append({"template": t, "expected": out})
        except Exception as e:
            cases.append({"template": t, "error_type": type(e).__name__, "error": str(e)})
    header = {"vars": SNIPPET_VARS, "now": NOW.strftime("%Y-%m-%d %H:%M:%S")}
    write_fixture("_snippets.json", header, cases)
    summary.append("%-28s %2d cases, %2d expect an error" % ("_snippets", len(cases), sum("error" in c for c in cases)))

    print("transformers %s, jinja2 %s" % (transformers.__version__, jinja2.__version__))
    print("\n".join(summary))


if __name__ == "__main__":
    main()
