"""Drives the agent's /v1 API with the python-nomad client from PyPI, as Nomad tooling would.

Usage: test_python_nomad.py PORT RUN_MARKER
Prints "N passed, 0 failed" and exits 0 when every check passes.
"""
import sys
import time

import nomad

port = int(sys.argv[1])
marker = sys.argv[2]
n = nomad.Nomad(host="127.0.0.1", port=port, timeout=10)

checks = []


def check(name, cond):
    checks.append((name, bool(cond)))
    if not cond:
        print(f"FAIL: {name}", file=sys.stderr)


def wait(what, fn, timeout=30):
    deadline = time.time() + timeout
    delay = 0.05
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    raise SystemExit(f"timed out waiting for {what}")


job = {
    "Job": {
        "ID": "py-job",
        "Name": "py-job",
        "Type": "service",
        "Datacenters": ["dc1"],
        "TaskGroups": [
            {
                "Name": "g",
                "Count": 1,
                "Tasks": [
                    {
                        "Name": "t",
                        "Driver": "raw_exec",
                        "Config": {"command": "/bin/sleep", "args": [marker]},
                        "Resources": {"CPU": 50, "MemoryMB": 32},
                    }
                ],
            }
        ],
    }
}

check("no jobs at first", n.jobs.get_jobs() == [])
resp = n.jobs.register_job(job)
check("register returns an EvalID", resp.get("EvalID"))
check("jobs lists the job", [j["ID"] for j in n.jobs.get_jobs()] == ["py-job"])
got = n.job.get_job("py-job")
check("get_job returns the job", got["ID"] == "py-job" and got["TaskGroups"][0]["Name"] == "g")
check("job is in jobs 'py' prefix", len(n.jobs.get_jobs(prefix="py")) == 1)

allocs = wait("a running allocation", lambda: [a for a in n.job.get_allocations("py-job") if a["ClientStatus"] == "running"])
check("allocation runs", len(allocs) == 1)
alloc = n.allocation.get_allocation(allocs[0]["ID"])
check("allocation read", alloc["JobID"] == "py-job" and alloc["TaskStates"]["t"]["State"] == "running")
check("allocations list", any(a["ID"] == alloc["ID"] for a in n.allocations.get_allocations()))

evals = n.evaluations.get_evaluations()
check("evaluations list", any(e["ID"] == resp["EvalID"] for e in evals))
ev = n.evaluation.get_evaluation(resp["EvalID"])
check("evaluation read", ev["Status"] == "complete" and ev["JobID"] == "py-job")
check("job evaluations", any(e["ID"] == resp["EvalID"] for e in n.job.get_evaluations("py-job")))
check("job summary", n.job.get_summary("py-job")["Summary"]["g"]["Running"] == 1)
check("job versions", n.job.get_versions("py-job")["Versions"][0]["Version"] == 0)

nodes = n.nodes.get_nodes()
check("one ready node", len(nodes) == 1 and nodes[0]["Status"] == "ready")
node = n.node.get_node(nodes[0]["ID"])
check("node read", node["ID"] == nodes[0]["ID"] and "raw_exec" in node["Drivers"])

leader = n.status.leader.get_leader()
check("leader is host:port", isinstance(leader, str) and ":" in leader)
peers = n.status.peers.get_peers()
check("peers list the leader", peers == [leader])
members = n.agent.get_members()
check("members", len(members["Members"]) == 1 and members["Members"][0]["Status"] == "alive")
check("agent self", "config" in n.agent.get_agent())

n.job.deregister_job("py-job", purge=True)
wait("the job to be purged", lambda: n.jobs.get_jobs() == [])
check("purged", n.jobs.get_jobs() == [])
try:
    n.job.get_job("py-job")
    check("purged job is 404", False)
except nomad.api.exceptions.URLNotFoundNomadException:
    check("purged job is 404", True)

passed = sum(1 for _, ok in checks if ok)
failed = len(checks) - passed
print(f"{passed} passed, {failed} failed")
sys.exit(0 if failed == 0 else 1)
