"""Seeds the fresh server of scripts/schemathesis.sh with one of each record, so that generated
requests reach the routes' logic rather than only their 404s (the lists hand out the ids), and
prints the ids the run must leave alone (see hooks.py): the admin's own account and token.

Usage: seed.py BASE_URL TOKEN. Any refused request fails the run: seeding must keep working.
"""

import json
import sys
import urllib.request

base, token = sys.argv[1], sys.argv[2]


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + "/api/v1" + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req) as r:
            text = r.read()
    except urllib.error.HTTPError as e:
        sys.exit(f"seeding: {method} {path} answered {e.code}: {e.read().decode()}")
    return json.loads(text) if text else None


operator = call("POST", "/operators", {"name": "Seed Telecom"})
call("POST", "/dids", {"numbers": ["+442079460100-+442079460199"], "operator_id": operator["id"],
                       "tag": "seed", "notes": "seeded"})
partner = call("POST", "/partners", {"name": "Seed Partner"})
customer = call("POST", "/customers", {"partner_id": partner["id"], "name": "Seed Customer"})
pbx = call("POST", "/pbxs", {"customer_id": customer["id"], "name": "Seed PBX", "serial_number": "SEED-0001"})
call("PUT", f"/pbxs/{pbx['id']}/license", {"term_kind": "yearly", "period_start": "2026-01-01"})
call("POST", "/service-kinds", {"code": "sip_trunk", "name": "SIP trunk",
                                "prices": [{"term_kind": "yearly", "currency": "EUR", "amount": "120.00"}]})
call("POST", f"/pbxs/{pbx['id']}/services", {"kind": "sip_trunk", "currency": "EUR"})
package = call("POST", "/packages", {"name": "Seed package", "did_allowance": 20, "tag": "seed",
                                     "prices": [{"term_kind": "yearly", "currency": "EUR", "amount": "10.00"}]})
cp = call("POST", "/client-packages", {"customer_id": customer["id"], "package_id": package["id"],
                                       "start_date": "2026-01-01"})
call("POST", f"/client-packages/{cp['id']}/dids", {"numbers": ["+442079460100", "+442079460101"],
                                                   "destination": f"pbx:{pbx['id']}"})
call("POST", "/tickets", {"partner_id": partner["id"], "subject": "Seed ticket", "message": "seeded",
                          "type": "technical", "pbx_serial": "SEED-0001", "channel": "phone",
                          "remote_access": {"address": "203.0.113.9"}})
call("POST", "/users", {"email": "member@seed.example", "role": "partner_member",
                        "partner_id": partner["id"], "password": "seed-password-0001"})

me = call("GET", "/auth/me")
tokens = call("GET", "/tokens")
print(",".join([me["id"]] + [t["id"] for t in tokens]))
