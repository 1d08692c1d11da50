"""Structured logs: JSON lines carrying the execution/step/deployment ids, or plain text for development."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import uuid

import pytest

from budportal.logconfig import logging_config
from pipelines.logcontext import log_context
from tests.pipelines.conftest import dag, run, step  # noqa: F401  (run is a fixture)


@pytest.fixture
def log_lines(settings):
    """Apply the portal's LOGGING for ``fmt`` and capture what the console handler writes."""
    stream = io.StringIO()

    def configure(fmt: str) -> io.StringIO:
        logging.config.dictConfig(logging_config(fmt=fmt, level="INFO"))
        logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
        return stream

    yield configure
    logging.config.dictConfig(settings.LOGGING)


def test_it_writes_json_lines_with_the_bound_ids(log_lines):
    stream = log_lines("json")
    with log_context(step_pk=7, execution_id="e-1"):
        logging.getLogger("pipelines.runner").warning("step %s slow", "a")
    logging.getLogger("pipelines.runner").warning("outside")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["event"] == "step a slow"
    assert first["level"] == "warning"
    assert first["logger"] == "pipelines.runner"
    assert first["step_pk"] == "7"
    assert first["execution_id"] == "e-1"
    assert first["timestamp"].endswith("Z")
    assert "execution_id" not in second  # the task boundary cleared its ids


def test_it_writes_plain_text_for_development(log_lines):
    stream = log_lines("text")
    with log_context(deployment_id="d-9"):
        logging.getLogger("x").warning("hello")
    line = stream.getvalue().strip()
    assert "hello" in line
    assert "deployment_id=d-9" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_it_refuses_an_unknown_format():
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logging_config(fmt="xml", level="INFO")


@pytest.mark.django_db
def test_a_step_logs_with_its_execution_step_and_deployment_ids(log_lines, run):
    deployment_id = uuid.uuid4()
    stream = log_lines("json")
    execution = run(dag(step("a"), step("b", depends_on=["a"])), deployment_id=deployment_id)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    by_step = {line["step_id"]: line for line in lines if line["logger"] == "pipelines.steps"}
    assert set(by_step) == {"a", "b"}, lines
    for step_id, line in by_step.items():
        assert line["execution_id"] == str(execution.pk)
        assert line["deployment_id"] == str(deployment_id)
        assert line["event"].endswith(step_id)
        assert "step_pk" in line
