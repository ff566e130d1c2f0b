"""Schemathesis against the generated OpenAPI document, in-process on the WSGI app.

Every operation gets a bounded number of generated requests, valid and invalid, with a
valid token: no response may be a 500, and each must match the status codes, media type,
headers and schema the document declares.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import schemathesis
from fixtures.api_client import make_token
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
EXAMPLES = {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 6}


@pytest.mark.app_config(API_RATE_LIMIT="100000 per minute")
@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda m: m.value)
def test_every_operation_keeps_its_contract(app, make_user, make_contact, make_interaction,
                                            make_reminder, mode):
    user = make_user(time_zone="America/New_York")
    token = make_token(app, user)
    ada = make_contact(user, name="Ada", tags="math")
    make_interaction(user, ada, occurred_at=datetime(2025, 1, 1, tzinfo=UTC))
    make_reminder(user, local_date=date(2030, 1, 1), contact=ada)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 28

    for operation in operations:
        @settings(max_examples=EXAMPLES[mode], deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        check()
