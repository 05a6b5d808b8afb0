"""Drives the agent's /v1 API with the python-nomad client from PyPI, as Nomad tooling would.

Usage: test_python_nomad.py PORT RUN_MARKER OUTPUT_JSON
OUTPUT_JSON is a job as `nomadctl job run -output` prints it.
Prints "N passed, 0 failed" and exits 0 when every check passes.
"""
import base64
import sys
import time

import nomad

port = int(sys.argv[1])
marker = sys.argv[2]
output_json = sys.argv[3]
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
        "Update": {"MaxParallel": 1, "MinHealthyTime": 500_000_000, "HealthyDeadline": 30_000_000_000},
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

# The event stream, from before the job exists.
stream, stream_exit, events = n.event.stream.get_stream(index=0, topic=["Job:py-job", "Deployment:py-job", "Allocation:py-job"], timeout=60)
stream.daemon = True
stream.start()
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

# A rollout: plan, run the change, its deployment, versions, revert.
first = wait("the first deployment to succeed", lambda: [d for d in n.job.get_deployments("py-job") if d["Status"] == "successful"])
check("job deployments", len(first) == 1 and first[0]["JobVersion"] == 0)
check("deployment read", n.deployment.get_deployment(first[0]["ID"])["JobID"] == "py-job")
check("deployments list", any(d["ID"] == first[0]["ID"] for d in n.deployments.get_deployments()))
try:
    n.deployment.promote_deployment_all(first[0]["ID"])
    check("promote without canaries is refused", False)
except nomad.api.exceptions.BaseNomadException as e:
    check("promote without canaries is refused", "no canaries" in str(e))
changed = {"Job": dict(job["Job"], TaskGroups=[dict(job["Job"]["TaskGroups"][0])])}
changed["Job"]["TaskGroups"][0]["Tasks"] = [dict(job["Job"]["TaskGroups"][0]["Tasks"][0], Config={"command": "/bin/sleep", "args": [marker + "1"]})]
plan = n.job.plan_job("py-job", changed, diff=True)
check("plan diff edits the job", plan["Diff"]["Type"] == "Edited")
check("plan annotates a destructive update", plan["Annotations"]["DesiredTGUpdates"]["g"]["DestructiveUpdate"] == 1)
check("plan names the modify index", plan["JobModifyIndex"] == got["JobModifyIndex"])
check("plan writes nothing", n.job.get_job("py-job")["Version"] == 0)
n.jobs.register_job(changed)
second = wait("the second deployment to succeed", lambda: [d for d in n.job.get_deployments("py-job") if d["JobVersion"] == 1 and d["Status"] == "successful"])
check("latest deployment", n.job.get_deployment("py-job")["ID"] == second[0]["ID"])
versions = n.job.get_versions("py-job")["Versions"]
check("two versions, both stable", [(v["Version"], v["Stable"]) for v in versions] == [(1, True), (0, True)])
reverted = n.job.revert_job("py-job", 0)
check("revert returns an EvalID", reverted.get("EvalID"))
back = n.job.get_job("py-job")
check("revert is a new version with the old spec", back["Version"] == 2 and back["TaskGroups"][0]["Tasks"][0]["Config"]["args"] == [marker])
try:
    n.job.revert_job("py-job", 99)
    check("revert to a missing version is 404", False)
except nomad.api.exceptions.URLNotFoundNomadException as e:
    check("revert to a missing version is 404", "99" in str(e))
# What the stream saw of all this.
seen = []


def drain():
    while not events.empty():
        seen.append(events.get())
    return seen


def types(topic):
    return [e["Type"] for batch in drain() for e in batch["Events"] if e["Topic"] == topic]


wait("the rollouts' deployments in the event stream", lambda: "DeploymentStatusUpdate" in types("Deployment") and "JobRegistered" in types("Job"))
check("stream: job registered", types("Job").count("JobRegistered") >= 3)
check("stream: allocations placed", "PlanResult" in types("Allocation"))
check("stream: allocation health", "DeploymentAllocHealth" in types("Deployment"))
check("stream: only py-job", all(e["Key"] == "py-job" or "py-job" in e["FilterKeys"] for b in drain() for e in b["Events"]))
check("stream: indexes ascend", [b["Index"] for b in seen] == sorted(b["Index"] for b in seen))
first_job = next(b["Index"] for b in seen if any(e["Topic"] == "Job" for e in b["Events"]))
import json
import requests
with requests.get(f"http://127.0.0.1:{port}/v1/event/stream", params={"topic": "Job:py-job", "index": first_job}, stream=True, timeout=10) as r:
    resumed = json.loads(next(r.iter_lines()))
check("stream resumes after an index", resumed["Index"] > first_job and resumed["Events"][0]["Payload"]["Job"]["ID"] == "py-job")
bad = requests.get(f"http://127.0.0.1:{port}/v1/event/stream", params={"topic": "Jobs"}, timeout=10)
check("stream: an unknown topic is a 400 that names it", bad.status_code == 400 and "Jobs" in bad.text)
stream_exit.set()

wait("the reverted copy to run", lambda: [a for a in n.job.get_allocations("py-job") if a["ClientStatus"] == "running" and a["JobVersion"] == 2])

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

# The rest of the API, as scripts call it.
check("regions", n.regions.get_regions() == ["global"])
valid = n.validate.validate_job(job).json()
check("validate a good job", valid["ValidationErrors"] == [] and valid["Error"] == "")
bad_job = {"Job": dict(job["Job"], TaskGroups=[])}
check("validate names what is wrong", n.validate.validate_job(bad_job).json()["ValidationErrors"])
check("evaluate_job returns an EvalID", n.job.evaluate_job("py-job").get("EvalID"))
check("evaluate_node returns evaluations", n.node.evaluate_node(nodes[0]["ID"])["EvalIDs"])
check("agent servers", len(n.agent.get_servers()) == 1)
check("reconcile summaries", n.system.reconcile_summaries())
check("no scaling policies", n.scaling.get_scaling_policies() == [])
check("nodes with resources", n.nodes.get_nodes(resources=True)[0]["NodeResources"]["Memory"]["MemoryMB"] > 0)
running = n.job.get_allocations("py-job")
alloc_id = next(a["ID"] for a in running if a["ClientStatus"] == "running" and a["JobVersion"] == 2)
root = [f["Name"] for f in n.client.ls.list_files(alloc_id, "/")]
check("fs ls", root == ["alloc", "t"])
check("fs stat", n.client.stat.stat_file(alloc_id, "alloc/logs")["IsDir"])
check("fs cat", n.client.cat.read_file(alloc_id, "alloc/logs/t.stdout.0") == "")
try:
    n.client.cat.read_file(alloc_id, "../../etc/shadow")
    check("fs refuses to climb out", False)
except nomad.api.exceptions.BaseNomadException as e:
    check("fs refuses to climb out", "allocation directory" in str(e.nomad_resp.text))
usage = n.client.allocation.read_allocation_stats(alloc_id)
check("allocation stats", usage["Tasks"]["t"]["ResourceUsage"]["MemoryStats"]["RSS"] > 0)
check("host stats", n.client.stats.read_stats(nodes[0]["ID"])["Memory"]["Total"] > 0)
n.client.allocation.signal_allocation(alloc_id, "SIGCONT", task="t")
check("signal", True)
n.client.allocation.restart_allocation(alloc_id)
restarted = wait("the restarted task", lambda: n.allocation.get_allocation(alloc_id)["TaskStates"]["t"]["Restarts"] == 1)
check("restart in place", restarted)
n.client.gc_all_allocations.garbage_collect(nodes[0]["ID"])
check("client gc keeps the running allocation", n.client.ls.list_files(alloc_id, "/"))

found = n.search.search("py-", "jobs")
check("prefix search", found["Matches"]["jobs"] == ["py-job"] and found["Truncations"]["jobs"] is False)
everything = n.search.search(alloc_id[:4], "all")
check("prefix search over everything", alloc_id in everything["Matches"]["allocs"])
fuzzy = n.search.fuzzy_search("py", "all")
check("fuzzy search with the namespace as scope", any(m["ID"] == "py-job" and m["Scope"] == ["default"] for m in fuzzy["Matches"]["jobs"]))

n.namespace.create_namespace({"Name": "py-space", "Description": "from python"})
check("namespaces list", [x["Name"] for x in n.namespaces.get_namespaces()] == ["default", "py-space"])
check("namespace read", n.namespace.get_namespace("py-space")["Description"] == "from python")
n.namespace.update_namespace("py-space", {"Name": "py-space", "Description": "changed"})
check("namespace update", n.namespace.get_namespace("py-space")["Description"] == "changed")
n.namespace.delete_namespace("py-space")
check("namespace delete", [x["Name"] for x in n.namespaces.get_namespaces()] == ["default"])

# Variables: create only if absent (cas=0), read back, list, a stale cas refused, delete.
created = n.variable.create_variable("py/app", {"Items": {"user": "py", "pass": "s3cret"}}, cas=0)
check("variable created", created["Items"]["pass"] == "s3cret" and created["CreateIndex"] == created["ModifyIndex"])
check("variable read", n.variable.get_variable("py/app")["Items"] == {"user": "py", "pass": "s3cret"})
listed = n.variables.get_variables(prefix="py/")
check("variables list metadata only", [v["Path"] for v in listed] == ["py/app"] and "Items" not in listed[0])
try:
    n.variable.create_variable("py/app", {"Items": {"user": "late"}}, cas=created["ModifyIndex"] - 1)
    check("a stale cas conflicts", False)
except nomad.api.exceptions.VariableConflict as e:
    check("a stale cas conflicts", e.nomad_resp.status_code == 409)
updated = n.variable.create_variable("py/app", {"Items": {"user": "py2"}}, cas=created["ModifyIndex"])
check("variable updated with cas", updated["Items"] == {"user": "py2"})
n.variable.delete_variable("py/app", cas=updated["ModifyIndex"])
check("variable deleted", n.variables.get_variables(prefix="py/") == [])

# A finished allocation's file streams to its end and the stream closes.
batch = {"Job": dict(job["Job"], ID="py-batch", Name="py-batch", Type="batch", Update=None,
                     TaskGroups=[dict(job["Job"]["TaskGroups"][0],
                                      Tasks=[dict(job["Job"]["TaskGroups"][0]["Tasks"][0],
                                                  Config={"command": "/bin/sh", "args": ["-c", "echo streamed-line"]})])])}
n.jobs.register_job(batch)
done = wait("the batch allocation to complete", lambda: [a for a in n.job.get_allocations("py-batch") if a["ClientStatus"] == "complete"])
frames = n.client.stream_file.stream(done[0]["ID"], 0, "start", "alloc/logs/t.stdout.0")
decoder = json.JSONDecoder()
text, pos = "", 0
while pos < len(frames):
    frame, pos = decoder.raw_decode(frames, pos)
    text += base64.b64decode(frame.get("Data", "")).decode()
check("stream_file of a finished allocation", text == "streamed-line\n")
n.job.deregister_job("py-batch", purge=True)

# Job JSON with explicit nulls, as Nomad's tooling writes it, and as `job run -output` prints it.
with open(output_json) as f:
    printed = json.load(f)
check("job run -output registers", n.jobs.register_job(printed).get("EvalID"))
nulls = {"Job": dict(job["Job"], ID="py-nulls", Name="py-nulls", Region=None, Namespace=None,
                     Constraints=None, Affinities=None, Meta=None, Update=None,
                     TaskGroups=[dict(job["Job"]["TaskGroups"][0], Count=None, RestartPolicy=None,
                                      Tasks=[dict(job["Job"]["TaskGroups"][0]["Tasks"][0], Env=None,
                                                  Config={"command": "/bin/true"})])])}
check("a job with nulls registers", n.jobs.register_job(nulls).get("EvalID"))
check("nulls read as unset", n.job.get_job("py-nulls")["TaskGroups"][0]["Count"] == 1)
filtered = requests.get(f"http://127.0.0.1:{port}/v1/jobs", params={"filter": 'ID matches "^py-"'}, timeout=10).json()
check("filter", sorted(j["ID"] for j in filtered) == ["py-job", "py-nulls", "py-printed"])
n.job.deregister_job("py-nulls", purge=True)
n.job.deregister_job(printed["Job"]["ID"], purge=True)
check("deregistering a missing job returns an evaluation", n.job.deregister_job("py-never-was").get("EvalID"))

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
