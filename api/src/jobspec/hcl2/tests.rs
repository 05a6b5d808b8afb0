use super::*;
use crate::jobspec::tree::body_to_json;
use serde_json::json;

fn eval_with(src: &str, opts: &ParseOptions) -> Result<Value, JobspecError> {
    parse(src, "t.nomad", opts).map(|b| Value::Object(body_to_json(&b)))
}

/// The evaluated `x` attribute of a file.
fn x(src: &str) -> Value {
    match eval_with(src, &ParseOptions::default()) {
        Ok(v) => v["x"].clone(),
        Err(e) => panic!("{e}"),
    }
}

fn err(src: &str, opts: &ParseOptions) -> String {
    match eval_with(src, opts) {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(e) => e.to_string(),
    }
}

fn vars(pairs: &[(&str, &str)]) -> ParseOptions {
    ParseOptions {
        vars: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..ParseOptions::default()
    }
}

#[test]
fn operators_conditionals_and_for_expressions() {
    assert_eq!(x("x = 1 + 2 * 3"), json!(7));
    assert_eq!(x("x = 7 / 2"), json!(3.5));
    assert_eq!(x("x = 5 % 3 == 2 && !false"), json!(true));
    assert_eq!(x("x = 2 > 1 ? \"yes\" : \"no\""), json!("yes"));
    assert_eq!(
        x("x = [for s in [\"a\", \"b\"] : \"${s}!\"]"),
        json!(["a!", "b!"])
    );
    assert_eq!(
        x("x = { for i, s in [\"a\", \"b\"] : s => i if i > 0 }"),
        json!({"b": 1})
    );
    assert_eq!(
        x("x = { for s in [\"a\", \"b\", \"a\"] : s => s... }"),
        json!({"a": ["a", "a"], "b": ["b"]})
    );
    assert_eq!(x("x = [{n = 1}, {n = 2}][*].n"), json!([1, 2]));
    assert_eq!(x("x = [{n = 1}, {n = 2}].*.n"), json!([1, 2]));
    assert_eq!(x("x = {a = [10, 20]}.a[1]"), json!(20));
}

#[test]
fn variables_take_defaults_env_files_and_flags_in_order() {
    let src = "variable \"n\" {\n  type = number\n  default = 1\n}\nx = var.n\n";
    assert_eq!(x(src), json!(1));
    let mut opts = ParseOptions {
        env: vec![("n".into(), "2".into())],
        ..ParseOptions::default()
    };
    assert_eq!(eval_with(src, &opts).unwrap()["x"], json!(2));
    opts.var_files.push(VarFile {
        name: "v.hcl".into(),
        text: "n = 3\n".into(),
        base_dir: None,
    });
    assert_eq!(eval_with(src, &opts).unwrap()["x"], json!(3));
    opts.vars.push(("n".into(), "4".into()));
    assert_eq!(eval_with(src, &opts).unwrap()["x"], json!(4));
    let json_file = ParseOptions {
        var_files: vec![VarFile {
            name: "v.json".into(),
            text: "{\"n\": 5}".into(),
            base_dir: None,
        }],
        ..ParseOptions::default()
    };
    assert_eq!(eval_with(src, &json_file).unwrap()["x"], json!(5));
}

#[test]
fn complex_variables_from_flags_are_parsed_as_hcl() {
    let src = "variable \"dcs\" {\n  type = list(string)\n}\nx = var.dcs\n";
    let v = eval_with(src, &vars(&[("dcs", "[\"a\", \"b\"]")])).unwrap();
    assert_eq!(v["x"], json!(["a", "b"]));
    let e = err(src, &vars(&[("dcs", "[\"a\"")]));
    assert!(e.contains("-var dcs: cannot read"), "{e}");
}

#[test]
fn a_missing_variable_names_the_flag() {
    let e = err(
        "variable \"image\" {\n  type = string\n}\nx = var.image\n",
        &ParseOptions::default(),
    );
    assert_eq!(
        e,
        "t.nomad:1:1: variable \"image\" has no value: set it with -var image=..., a \
         -var-file, or NOMAD_VAR_image, or give it a default"
    );
    let e = err("x = 1\n", &vars(&[("nope", "1")]));
    assert!(e.contains("declares no variable \"nope\""), "{e}");
    let e = err(
        "variable \"a\" {\n  default = 1\n}\nx = var.b\n",
        &ParseOptions::default(),
    );
    assert_eq!(
        e,
        "t.nomad:4:5: there is no variable \"b\": declare it with variable \"b\" { ... }; \
         did you mean \"a\"?"
    );
}

#[test]
fn validations_report_their_message() {
    let src = "variable \"count\" {\n  type = number\n  validation {\n    condition = var.count > 0\n    error_message = \"count must be positive\"\n  }\n}\nx = var.count\n";
    assert_eq!(
        eval_with(src, &vars(&[("count", "3")])).unwrap()["x"],
        json!(3)
    );
    assert_eq!(
        err(src, &vars(&[("count", "0")])),
        "t.nomad:4:17: invalid value for variable \"count\": count must be positive"
    );
    let e = err(src, &vars(&[("count", "many")]));
    assert!(e.contains("a number is required"), "{e}");
}

#[test]
fn locals_resolve_in_dependency_order_and_cycles_are_named() {
    let src = "locals {\n  b = local.a + 1\n}\nlocals {\n  a = 1\n}\nx = local.b\n";
    assert_eq!(x(src), json!(2));
    let e = err(
        "locals {\n  a = local.b\n  b = local.a\n}\nx = 1\n",
        &ParseOptions::default(),
    );
    assert!(e.contains("cycle: a -> b -> a"), "{e}");
}

#[test]
fn runtime_interpolations_pass_through() {
    let src = "variable \"v\" {\n  default = \"x\"\n}\n\
               x = \"${var.v}-${attr.kernel.name}-${NOMAD_ALLOC_INDEX}-${meta.rack}\"\n";
    assert_eq!(
        x(src),
        json!("x-${attr.kernel.name}-${NOMAD_ALLOC_INDEX}-${meta.rack}")
    );
    assert_eq!(
        x("x = \"${node.unique.name}\""),
        json!("${node.unique.name}")
    );
    assert_eq!(x("x = \"$${var.literal}\""), json!("${var.literal}"));
    // Written bare, they become the same string, as in Nomad.
    assert_eq!(x("x = attr.kernel.name"), json!("${attr.kernel.name}"));
    assert_eq!(
        x("x = format(\"%s/conf\", NOMAD_TASK_DIR)"),
        json!("${NOMAD_TASK_DIR}/conf")
    );
}

#[test]
fn template_directives_and_strip_markers() {
    let src = "variable \"xs\" {\n  default = [\"a\", \"b\"]\n}\n\
               x = <<EOT\n%{ for s in var.xs ~}\nserver ${s};\n%{ endfor ~}\nend\nEOT\n";
    assert_eq!(x(src), json!("server a;\nserver b;\nend\n"));
    assert_eq!(
        x("x = \"%{ if 1 > 2 }big%{ else }small%{ endif }\""),
        json!("small")
    );
    assert_eq!(x("x = \"a   ${~ \"b\" ~}   c\""), json!("abc"));
    assert_eq!(
        x("x = \"${[1, 2]}\""),
        json!([1, 2]),
        "a lone interpolation keeps its type"
    );
}

#[test]
fn dynamic_blocks_expand() {
    let src = "variable \"ports\" {\n  default = { http = 8080, admin = 9000 }\n}\n\
               network {\n  dynamic \"port\" {\n    for_each = var.ports\n    labels = [port.key]\n    \
               content {\n      static = port.value\n    }\n  }\n}\n";
    let v = eval_with(src, &ParseOptions::default()).unwrap();
    assert_eq!(
        v["network"]["port"],
        json!([{"admin": {"static": 9000}}, {"http": {"static": 8080}}])
    );
    let src = "dynamic \"p\" {\n  for_each = [1]\n  iterator = it\n  content {\n    n = it.value\n  }\n}\n";
    assert_eq!(
        eval_with(src, &ParseOptions::default()).unwrap()["p"],
        json!({"n": 1})
    );
}

#[test]
fn try_can_and_convert() {
    assert_eq!(x("x = try({}.missing, \"fallback\")"), json!("fallback"));
    assert_eq!(x("x = can({}.missing)"), json!(false));
    assert_eq!(x("x = convert(5, string)"), json!("5"));
}

#[test]
fn functions_and_their_errors() {
    assert_eq!(x("x = upper(\"a\")"), json!("A"));
    assert_eq!(x("x = join(\",\", [\"a\", \"b\"])"), json!("a,b"));
    assert_eq!(x("x = max([1, 5, 3]...)"), json!(5));
    let e = err("x = uper(\"a\")\n", &ParseOptions::default());
    assert_eq!(
        e,
        "t.nomad:1:5: there is no function named \"uper\"; did you mean \"upper\"?"
    );
}

#[test]
fn file_and_templatefile_read_beside_the_job_file() {
    let dir = std::env::temp_dir().join(format!("hcl2-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("motd.txt"), "hello\n").unwrap();
    std::fs::write(
        dir.join("upstream.tpl"),
        "%{ for a in addrs ~}\nserver ${a};\n%{ endfor ~}\n# ${NOMAD_ALLOC_ID}\n",
    )
    .unwrap();
    let opts = ParseOptions {
        base_dir: Some(dir.clone()),
        ..ParseOptions::default()
    };
    let v = eval_with(
        "a = file(\"motd.txt\")\nb = templatefile(\"upstream.tpl\", { addrs = [\"x:1\", \"y:2\"] })\n",
        &opts,
    )
    .unwrap();
    assert_eq!(v["a"], json!("hello\n"));
    assert_eq!(
        v["b"],
        json!("server x:1;\nserver y:2;\n# ${NOMAD_ALLOC_ID}\n")
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn settings_with_partial_or_no_effect_are_kept_and_warned_about() {
    let src = "job \"w\" {\n  group \"g\" {\n    ephemeral_disk {\n      size = 500\n      migrate = true\n    }\n    \
               task \"t\" {\n      driver = \"raw_exec\"\n      resources {\n        iops = 10\n        disk = 5\n      \
               }\n    }\n  }\n}\n";
    let job = crate::jobspec::parse_hcl(src, "w.nomad").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        job.task_groups[0]
            .ephemeral_disk
            .as_ref()
            .map(|d| d.size_mb),
        Some(500)
    );
    let w = job.warnings();
    assert_eq!(w.len(), 2, "{w:?}");
    // migrate works across nodes: no warning for it.
    assert!(w[0].contains("resources.iops has no effect"), "{w:?}");
    assert!(w[1].contains("resources.disk has no effect"), "{w:?}");
}

#[test]
fn a_whole_job_evaluates() {
    let src = r#"
variable "datacenters" {
  type    = list(string)
  default = ["dc1"]
}
variable "image_tag" {
  type = string
}
locals {
  image = "local/web:${var.image_tag}"
  ports = { http = 8080 }
}
job "web" {
  datacenters = var.datacenters
  group "web" {
    count = length(var.datacenters) * 2
    network {
      dynamic "port" {
        for_each = local.ports
        labels   = [port.key]
        content {
          to = port.value
        }
      }
    }
    task "web" {
      driver = "docker"
      config {
        image = local.image
        ports = keys(local.ports)
      }
      env {
        NODE = "${node.unique.name}"
      }
    }
  }
}
"#;
    let job = crate::jobspec::parse_hcl_with(src, "web.nomad", &vars(&[("image_tag", "1.2")]))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(job.datacenters, vec!["dc1".to_string()]);
    let g = &job.task_groups[0];
    assert_eq!(g.count, 2);
    let t = &g.tasks[0];
    assert_eq!(t.config["image"], json!("local/web:1.2"));
    assert_eq!(t.config["ports"], json!(["http"]));
    assert_eq!(t.env["NODE"], "${node.unique.name}");
    let e = crate::jobspec::parse_hcl_with(src, "web.nomad", &ParseOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("-var image_tag="), "{e}");
}
