"""Hooks for scripts/schemathesis.sh: keep the run's own credentials alive.

The run acts as one admin with one token. Generated requests may name any id they have seen
(GET /auth/me, GET /tokens), and disabling or demoting that admin, or revoking that token,
would turn every later answer into a 401. Those two ids are swapped for an id that names
nothing before a request goes out: the routes are still called, and answer 404.
"""

import os

import schemathesis

PROTECTED = {i for i in os.environ.get("DIDHUB_ST_PROTECTED", "").split(",") if i}
NOWHERE = "00000000-0000-0000-0000-000000000000"


@schemathesis.hook
def before_call(context, case, kwargs):
    params = case.path_parameters
    if not params:
        return
    for name, value in list(params.items()):
        if isinstance(value, str) and value.strip().lower() in PROTECTED:
            params[name] = NOWHERE


# Inbound mail (POST /api/v1/mail/inbound) takes a raw message as `message/rfc822`: generated
# text goes out as its bytes, as `text/plain` would.
schemathesis.serializer.alias("message/rfc822", "text/plain")
