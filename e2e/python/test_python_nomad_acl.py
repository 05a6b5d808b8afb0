"""python-nomad against an agent with ACLs on: a management token writes a read policy and a
client token holding it; that token reads and is refused writes; no token is refused.

Usage: test_python_nomad_acl.py PORT MANAGEMENT_SECRET
Prints "N passed, 0 failed" and exits 0 when every check passes.
"""
import sys

import nomad
from nomad.api.exceptions import URLNotAuthorizedNomadException

port = int(sys.argv[1])
admin = nomad.Nomad(host="127.0.0.1", port=port, timeout=10, token=sys.argv[2])
checks = []


def check(name, cond):
    checks.append((name, bool(cond)))
    if not cond:
        print(f"FAIL: {name}", file=sys.stderr)


def refused(fn):
    try:
        fn()
    except URLNotAuthorizedNomadException:
        return True
    return False


admin.acl.create_policy(
    "py-read",
    {
        "Name": "py-read",
        "Description": "read jobs",
        "Rules": 'namespace "default" { policy = "read" }',
    },
)
check("the policy is listed", any(p["Name"] == "py-read" for p in admin.acl.get_policies()))
made = admin.acl.create_token({"Name": "py", "Type": "client", "Policies": ["py-read"]})
check("a new token carries its secret once", len(made.get("SecretID", "")) == 36)
check(
    "a listed token has no secret",
    all("SecretID" not in t or not t["SecretID"] for t in admin.acl.get_tokens()),
)

reader = nomad.Nomad(host="127.0.0.1", port=port, timeout=10, token=made["SecretID"])
check("the reader's self token is its own", reader.acl.get_self_token()["Name"] == "py")
check("the reader lists jobs", isinstance(reader.jobs.get_jobs(), list))
job = {"Job": {"ID": "py-acl", "Name": "py-acl", "Type": "batch", "TaskGroups": [
    {"Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec",
                             "Config": {"command": "/bin/true"}}]}]}}
check("the reader cannot register a job", refused(lambda: reader.jobs.register_job(job)))

anonymous = nomad.Nomad(host="127.0.0.1", port=port, timeout=10)
check("no token cannot list jobs", refused(lambda: anonymous.jobs.get_jobs()))

admin.acl.delete_token(made["AccessorID"])
check("a deleted token is refused", refused(lambda: reader.jobs.get_jobs()))

failed = [n for n, ok in checks if not ok]
print(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
