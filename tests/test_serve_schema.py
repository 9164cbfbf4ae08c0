"""Property tests of every endpoint of ``cactus-router serve`` against its own /openapi.json (schemathesis).

Each operation gets generated requests, valid and invalid by the document; every response must be
documented (status, content type, body schema) and none may be a 5xx. The gateway's backend is the
FAKE OpenAI-compatible server of fake_openai_server.py.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="the OpenAPI property tests need schemathesis")
httpx = pytest.importorskip("httpx", reason="the serve tests need httpx (pip install 'cactus-router[serve]')")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

OPERATIONS = [("POST", "/v1/route"), ("POST", "/v1/route/batch"), ("POST", "/v1/explain"), ("GET", "/v1/models"),
              ("GET", "/v1/profile"), ("GET", "/health"), ("GET", "/ready"), ("GET", "/metrics"),
              ("POST", "/v1/chat/completions")]


@pytest.fixture(scope="module")
def api_schema(served):
    return schemathesis.openapi.from_url(served.url + "/openapi.json")


def test_the_document_is_openapi_3(served):
    """/openapi.json is an OpenAPI 3 document naming every endpoint the service has, each tested below."""
    doc = httpx.get(served.url + "/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops} == set(OPERATIONS)


# An endpoint without a body or parameters has no invalid request to generate.
CASES = [(*op, mode) for op in OPERATIONS for mode in GenerationMode if op[0] == "POST" or mode.value == "positive"]


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=[f"{m} {p} {g.value}" for m, p, g in CASES])
def test_every_endpoint_keeps_its_document(api_schema, method, path, mode):
    """Generated requests, valid and invalid by the document, get only documented responses, and never a 5xx."""
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):  # type: ignore[no-untyped-def]
        case.call_and_validate(checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                       response_schema_conformance])

    check()
