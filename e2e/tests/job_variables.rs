//! HCL2 job files with input variables, locals and functions, through `nomadctl` and the API.

use e2e::*;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);

const JOB: &str = r#"
variable "datacenters" {
  type    = list(string)
  default = ["*"]
}

variable "greeting" {
  type = string
  validation {
    condition     = length(var.greeting) > 2
    error_message = "greeting must be longer than two characters"
  }
}

variable "replicas" {
  type    = number
  default = 1
}

variable "upstreams" {
  type = list(string)
}

locals {
  message   = format("%s from %s", upper(var.greeting), "hcl2")
  upstreams = templatefile("upstream.tpl", { addrs = var.upstreams })
}

job "vars" {
  datacenters = var.datacenters
  type        = "batch"

  group "g" {
    count = var.replicas

    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "printf '%s|%s\n%s' \"$MESSAGE\" \"$INDEX\" \"$UPSTREAMS\" > ${NOMAD_ALLOC_DIR}/out"]
      }
      env {
        MESSAGE   = local.message
        UPSTREAMS = local.upstreams
        INDEX     = "${NOMAD_ALLOC_INDEX}"
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"#;

#[test]
fn variables_from_flags_files_and_the_environment_shape_the_job() {
    // Scenario: a job file declares variables (one validated, one without a default), locals
    // built with functions, and a templatefile beside it. validate names the missing variable
    // and its flag, then the failed validation; plan and run take -var, -var-file and
    // NOMAD_VAR_*; the tasks see the evaluated values and the runtime interpolation
    // ${NOMAD_ALLOC_INDEX} that HCL2 left for the client.
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    let job = dir.path().join("vars.nomad.hcl");
    std::fs::write(&job, JOB).unwrap();
    std::fs::write(
        dir.path().join("upstream.tpl"),
        "%{ for a in addrs ~}\nserver ${a};\n%{ endfor ~}\n",
    )
    .unwrap();
    let var_file = dir.path().join("prod.vars.hcl");
    std::fs::write(
        &var_file,
        "upstreams = [\"10.0.0.1:80\", \"10.0.0.2:80\"]\n",
    )
    .unwrap();
    let (job_s, vf) = (job.to_str().unwrap(), var_file.to_str().unwrap());

    let out = agent.ctl(&["job", "validate", job_s]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!(
            "{job_s}:7:1: variable \"greeting\" has no value: set it with -var greeting=..."
        )),
        "{}",
        stderr(&out)
    );
    let out = agent.ctl(&[
        "job",
        "validate",
        "-var",
        "greeting=hi",
        "-var-file",
        vf,
        job_s,
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(
            "invalid value for variable \"greeting\": greeting must be longer than two characters"
        ),
        "{}",
        stderr(&out)
    );
    let out = agent.ctl(&["job", "validate", "-var", "nope=1", job_s]);
    assert!(stderr(&out).contains("-var nope: the job file declares no variable \"nope\""));

    let env = [("NOMAD_VAR_replicas", "2")];
    let plan = [
        "job",
        "plan",
        "-var",
        "greeting=hello",
        "-var-file",
        vf,
        job_s,
    ];
    let out = agent.ctl_env(&plan, None, &env);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("(2 create)"), "{}", stdout(&out));

    let run = [
        "job",
        "run",
        "-var",
        "greeting=hello",
        "-var-file",
        vf,
        job_s,
    ];
    let out = agent.ctl_env(&run, None, &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let allocs = wait_for("both allocations complete", SETTLE, || {
        let list = agent.get("/v1/job/vars/allocations").ok()?;
        let list = list.as_array()?.clone();
        (list.len() == 2 && list.iter().all(|a| a["ClientStatus"] == "complete")).then_some(list)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    let mut outputs: Vec<String> = allocs
        .iter()
        .map(|a| {
            let id = a["ID"].as_str().unwrap();
            let url = format!("{}/v1/client/fs/cat/{id}?path=alloc/out", agent.address());
            request("GET", &url, None).unwrap().1
        })
        .collect();
    outputs.sort();
    let upstreams = "server 10.0.0.1:80;\nserver 10.0.0.2:80;\n";
    assert_eq!(
        outputs,
        vec![
            format!("HELLO from hcl2|0\n{upstreams}"),
            format!("HELLO from hcl2|1\n{upstreams}")
        ]
    );
}

#[test]
fn the_parse_api_takes_variables_and_reads_no_files() {
    // Scenario: /v1/jobs/parse evaluates a file with the Variables it is given, reports a
    // missing one with its position, and refuses file functions, which would read the
    // agent's disk.
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    let hcl = "variable \"image\" {\n  type = string\n}\njob \"p\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"docker\"\n      config {\n        image = \"${var.image}:1\"\n      }\n    }\n  }\n}\n";
    let url = format!("{}/v1/jobs/parse", agent.address());
    let body = serde_json::json!({ "JobHCL": hcl, "Variables": "image = \"redis\"\n" });
    let (code, text) = request("POST", &url, Some(&body.to_string())).unwrap();
    assert_eq!(code, 200, "{text}");
    let job: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        job["TaskGroups"][0]["Tasks"][0]["Config"]["image"],
        "redis:1"
    );

    let body = serde_json::json!({ "JobHCL": hcl });
    let (code, text) = request("POST", &url, Some(&body.to_string())).unwrap();
    assert_eq!(code, 400);
    assert!(
        text.contains("input.hcl:1:1: variable \"image\" has no value"),
        "{text}"
    );

    let reads = hcl.replace("\"${var.image}:1\"", "file(\"/etc/hostname\")");
    let body = serde_json::json!({ "JobHCL": reads, "Variables": "image = \"x\"" });
    let (code, text) = request("POST", &url, Some(&body.to_string())).unwrap();
    assert_eq!(code, 400);
    assert!(
        text.contains("function file: the API does not read files on the agent"),
        "{text}"
    );
}

#[test]
fn settings_without_effect_are_warned_about_not_dropped() {
    // Scenario: a job file with resources.iops and resources.disk, which Nomad files carry but
    // nothing enforces (ephemeral_disk is what reserves disk): job validate and job run both
    // print a warning for each, and the job keeps them as written. ephemeral_disk { migrate },
    // which works, draws none.
    let dir = tempfile::tempdir().unwrap();
    let agent = Agent::dev(dir.path()).unwrap();
    let file = dir.path().join("w.nomad.hcl");
    std::fs::write(
        &file,
        "job \"w\" {\n  datacenters = [\"*\"]\n  type = \"batch\"\n  group \"g\" {\n    ephemeral_disk {\n      size = 200\n      migrate = true\n    }\n    task \"t\" {\n      driver = \"raw_exec\"\n      config {\n        command = \"/bin/true\"\n      }\n      resources {\n        cpu  = 20\n        memory = 16\n        iops = 5\n        disk = 50\n      }\n    }\n  }\n}\n",
    )
    .unwrap();
    let out = agent.ctl(&["job", "validate", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("Job Warnings:\n2 warning(s):"), "{text}");
    assert!(!text.contains("migrate"), "{text}");
    assert!(text.contains("resources.iops has no effect"), "{text}");
    assert!(text.contains("resources.disk has no effect"), "{text}");
    let out = agent.ctl(&["job", "run", "-detach", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("resources.disk has no effect"),
        "{}",
        stdout(&out)
    );
    let job = agent.get("/v1/job/w").unwrap();
    assert_eq!(job["TaskGroups"][0]["EphemeralDisk"]["SizeMB"], 200);
}
