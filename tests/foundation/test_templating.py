"""The Jinja2 sandbox: parameters, ``env``, ``--set``, undefined variables, escapes and work bounds."""

from __future__ import annotations

import time
from typing import Any

import pytest

from chaos.templating import TemplateProblem, make_environment, render_string

from .helpers import load, one_problem, with_fault


def render(text: str, **context: Any) -> Any:
    return render_string(make_environment(), text, context)


def refused(text: str, **context: Any) -> str:
    started = time.process_time()  # CPU of this process: what the bound limits, whatever else the box runs
    with pytest.raises(TemplateProblem) as info:
        render(text, **context)
    assert time.process_time() - started < 2, "the sandbox spent too much CPU before refusing"
    return str(info.value)


def test_plain_strings_are_untouched() -> None:
    assert render("500ms") == "500ms"


@pytest.mark.parametrize(("text", "value"), [("{{ n }}", 30), ("{{ n * 2 }}", 60), ("{{ f }}", 1.5),
                                             ("{{ b }}", True), ("{{ n }}ms", "30ms"), ("{{ s }}", "x")])
def test_a_lone_expression_keeps_its_type(text: str, value: Any) -> None:
    assert render(text, n=30, f=1.5, b=True, s="x") == value


def test_ordinary_template_features_work() -> None:
    text = "{{ 'ab' ~ 'cd' }}-{{ [1, 2]|join(',') }}-{{ 'x'|replace('x', 'y') }}-{{ '%s%d'|format('a', 3) }}"
    assert render(text) == "abcd-1,2-y-a3"
    assert render("{% for x in [1, 2, 3] %}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}") == "1,2,3"
    assert render("{{ missing | default('d') }}") == "d"


SANDBOX_ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ self._TemplateReference__context }}",
    "{{ self.__init__.__globals__ }}",
    "{{ range.__self__ }}",
    "{{ [].__class__.__base__.__subclasses__() }}",
    "{{ ().__class__.__bases__[0] }}",
    "{{ request.application.__globals__ }}",
    "{{ config.items() }}",
    "{{ env.__class__.__init__ }}",
    "{{ ''.format.__globals__ }}",
    "{{ '{0.__class__}'.format('') }}",
]


@pytest.mark.parametrize("text", SANDBOX_ESCAPES)
def test_sandbox_escapes_are_refused(text: str) -> None:
    message = refused(text, env={})
    assert message.startswith(("refused by the template sandbox", "undefined template variable",
                               "template error"))


WORK_BOMBS = [
    "{% for x in range(10**9) %}{% endfor %}",
    "{% for x in range(100000) %}{% for y in range(100000) %}{% endfor %}{% endfor %}",
    "{{ 'a' * 10**9 }}",
    "{{ [0] * 10**9 }}",
    "{{ 'a' * 99999 * 99999 }}",
    "{{ 9 ** 99999 }}",
    "{{ ((9 ** 64) ** 64) ** 64 }}",
    "{{ ('a' * 100000)|replace('a', 'a' * 100000) }}",
    "{{ 'a'|center(10**9) }}",
    "{{ 'a'.center(10**9) }}",
    "{{ 'a'.ljust(10**9) }}",
    "{{ '%999999999d' % 1 }}",
    "{{ '%*d' % (999999999, 1) }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ '{:>{w}}'.format(1, w=999999999) }}",
    "{{ '%999999999d'|format(1) }}",
    "{{ range(100000)|join('a' * 100000) }}",
    "{% set ns = namespace(s='a' * 100000) %}{% for i in range(30) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "{% set ns = namespace(s='a' * 100000) %}{% for i in range(30) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
    "{% set s = 'a' * 100000 %}{% for i in range(10000) %}{{ s }}{% endfor %}",
    "{% for i in range(100000) %}" + "a" * 1000 + "{% endfor %}",
    "{% macro m() %}{% for i in range(100000) %}{{ 'a' * 100000 }}{% endfor %}{% endmacro %}{{ m() }}",
    "{% set x %}{% for i in range(100000) %}{{ 'a' * 100000 }}{% endfor %}{% endset %}{{ x|length }}",
    "{{ lipsum(n=100000) }}",
    "{{ range(100000)|list|slice(999999999) }}",
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
]


@pytest.mark.parametrize("text", WORK_BOMBS)
def test_work_bombs_are_refused_quickly(text: str) -> None:
    assert refused(text).startswith(("refused by the template sandbox", "template error"))


def test_undefined_variable_names_it() -> None:
    assert refused("{{ latencyy }}") == "undefined template variable: 'latencyy' is undefined"


def test_parameters_render_into_faults_with_their_path() -> None:
    problem = one_problem(with_fault(latency="{{ latencyy }}"))
    assert problem.path == "spec.faults[0].latency"
    assert problem.message == "undefined template variable: 'latencyy' is undefined"


def test_sandbox_escape_in_an_experiment_is_a_problem_with_a_path() -> None:
    problem = one_problem(with_fault(latency="{{ cycler.__init__.__globals__ }}"))
    assert problem.path == "spec.faults[0].latency" and "sandbox" in problem.message


def test_parameters_and_overrides() -> None:
    document = with_fault(latency="{{ latency }}")
    document["spec"]["parameters"] = {"latency": "200ms"}
    assert load(document, environ={}).experiment.spec.faults[0].latency == "200ms"
    fault = load(document, overrides={"latency": "900ms"}, environ={}).experiment.spec.faults[0]
    assert fault.latency == "900ms"


def test_values_from_the_environment_are_secrets_refused_outside_headers_and_addresses() -> None:
    document = with_fault(duration="{{ env.DUR | default('1m') }}")
    problem = one_problem(document, environ={"DUR": "3m"})
    assert problem.path == "spec.faults[0].duration"
    assert "values from the environment are secrets" in problem.message and "--set" in problem.hint


def test_override_of_a_number_keeps_its_type() -> None:
    document = with_fault(type="network-loss", latency=None, percent="{{ loss }}")
    document["spec"]["parameters"] = {"loss": 30}
    assert load(document, overrides={"loss": "45"}).experiment.spec.faults[0].percent == 45


def test_a_parameter_read_from_the_environment_is_a_secret_too() -> None:
    document = with_fault(latency="{{ latency }}")
    document["spec"]["parameters"] = {"latency": "{{ env.LAT }}"}
    assert one_problem(document, environ={"LAT": "7ms"}).path == "spec.faults[0].latency"
    document = with_fault()
    document["spec"]["parameters"] = {"token": "{{ env.TOKEN }}"}
    document["spec"]["monitor"] = {"headers": {"Authorization": "Bearer {{ token }}"}}
    loaded = load(document, environ={"TOKEN": "s3cr3t-value"})
    header = loaded.experiment.spec.monitor.headers["Authorization"]
    assert header.reveal() == "Bearer s3cr3t-value" and str(header) == "***"
    assert loaded.parameters == {"token": "***"}
    assert "s3cr3t-value" not in repr(loaded.experiment) + str(loaded.experiment.model_dump(mode="json"))


def test_the_whole_environment_is_never_rendered() -> None:
    for template in ("{{ env }}", "{{ env | list }}", "{{ env | string }}", "{% for k in env %}{{ k }}{% endfor %}"):
        document = with_fault()
        document["metadata"]["description"] = template
        problem = one_problem(document, environ={"X": "y"})
        assert "env.NAME" in problem.message, template


def test_undeclared_override_is_refused_with_a_hint() -> None:
    document = with_fault(latency="{{ latency }}")
    document["spec"]["parameters"] = {"latency": "200ms"}
    problem = one_problem(document, overrides={"latncy": "1s"})
    assert problem.message == "--set latncy: no such parameter"
    assert problem.hint == "did you mean 'latency'?"
    problem = one_problem(with_fault(), overrides={"x": "1"})
    assert problem.hint == "declare it under spec.parameters"


def test_overrides_are_not_templates() -> None:
    document = with_fault(latency="{{ latency }}")
    document["spec"]["parameters"] = {"latency": "200ms"}
    problem = one_problem(document, overrides={"latency": "{{ ''.__class__ }}"})
    assert "is not a duration" in problem.message


def test_manifest_yaml_filter_escapes_unicode_for_yaml() -> None:
    import yaml

    env = make_environment()
    out = env.from_string("{{ v | yaml }}").render(v="/ü😀\u0085")
    assert out.isascii()
    assert yaml.safe_load(out) == "/ü😀\u0085"
