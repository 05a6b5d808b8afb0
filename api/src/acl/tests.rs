use super::*;
use Capability::*;

fn parse(src: &str) -> Policy {
    match parse_policy(src) {
        Ok(p) => p,
        Err(e) => panic!("{src:?} should parse: {e}"),
    }
}

fn err(src: &str) -> String {
    match parse_policy(src) {
        Ok(p) => panic!("{src:?} should be refused, got {p:?}"),
        Err(e) => e.to_string(),
    }
}

fn caps(list: &[Capability]) -> BTreeSet<Capability> {
    list.iter().copied().collect()
}

#[test]
fn parses_every_rule_form() {
    let p = parse(
        r#"
        # a comment
        namespace "default" {
          policy       = "read"
          capabilities = ["alloc-exec", "alloc-node-exec"]
        }
        namespace "prod-*" { capabilities = ["submit-job"] }
        namespace "empty" {}
        node { policy = "write" }
        agent { policy = "read" }
        operator { policy = "deny" }
        "#,
    );
    assert_eq!(p.namespaces.len(), 3);
    let default = &p.namespaces[0];
    assert_eq!(default.name, "default");
    assert_eq!(default.policy, Some(NamespacePolicy::Read));
    let mut want = caps(&NamespacePolicy::Read.capabilities());
    want.extend([AllocExec, AllocNodeExec]);
    assert_eq!(default.capabilities, want);
    assert_eq!(p.namespaces[1].name, "prod-*");
    assert_eq!(p.namespaces[1].policy, None);
    assert_eq!(p.namespaces[1].capabilities, caps(&[SubmitJob]));
    assert!(p.namespaces[2].capabilities.is_empty());
    assert_eq!(p.node, Some(Level::Write));
    assert_eq!(p.agent, Some(Level::Read));
    assert_eq!(p.operator, Some(Level::Deny));
}

#[test]
fn errors_name_the_problem_and_its_position() {
    let cases: &[(&str, &str)] = &[
        (
            "node { policy = \"read\" }\n\n    host_volume \"*\" { policy = \"read\" }",
            "line 3, col 5: \"host_volume\" rules are not supported",
        ),
        ("plugin { policy = \"read\" }", "line 1, col 1: \"plugin\" rules are not supported"),
        ("quota { policy = \"read\" }", "line 1, col 1: \"quota\" rules are not supported"),
        (
            "namespace \"a\" {\n  variables {\n    path \"*\" { capabilities = [\"reed\"] }\n  }\n}",
            "line 3, col 32: unknown variables capability \"reed\"; did you mean \"read\"?: use write, read, list, destroy or deny",
        ),
        (
            "namespace \"a\" {\n  variables {\n    paths \"*\" { capabilities = [\"read\"] }\n  }\n}",
            "line 3, col 5: unknown key \"paths\" in variables; did you mean \"path\"?",
        ),
        (
            "namespace \"a\" {\n  variables {\n    path \"x\" {}\n  }\n}",
            "line 3, col 5: path \"x\" needs capabilities",
        ),
        (
            "namespace \"a\" {\n  variables {\n    path \"x\" { capabilities = [\"read\"] }\n  }\n  variables {\n    path \"y\" { capabilities = [\"read\"] }\n  }\n}",
            "line 5, col 3: duplicate \"variables\"",
        ),
        ("nodes { policy = \"read\" }", "line 1, col 1: unknown rule \"nodes\"; did you mean \"node\"?"),
        ("namespace \"a\" {\n  polcy = \"read\"\n}", "line 2, col 3: unknown key \"polcy\" in namespace \"a\"; did you mean \"policy\"?"),
        ("node {\n  policy = \"read\"\n  extra = 1\n}", "line 3, col 3: unknown key \"extra\" in node rule"),
        (
            "namespace \"a\" {\n  capabilities = [\"read-job\", \"submit-jobs\"]\n}",
            "line 2, col 31: unknown capability \"submit-jobs\"; did you mean \"submit-job\"?",
        ),
        ("namespace \"a\" { policy = \"admin\" }", "line 1, col 26: unknown namespace policy \"admin\": use deny, read, write or scale"),
        ("namespace \"a\" { policy = \"list\" }", "line 1, col 26: unknown namespace policy \"list\" (\"list\" applies only to plugin rules): use deny, read, write or scale"),
        ("agent { policy = \"scale\" }", "line 1, col 18: unknown agent policy \"scale\": use deny, read or write"),
        (
            "namespace \"a\" { policy = \"read\" }\nnamespace \"a\" { policy = \"write\" }",
            "line 2, col 1: duplicate namespace rule \"a\"",
        ),
        ("node { policy = \"read\" }\nnode { policy = \"write\" }", "line 2, col 1: duplicate \"node\""),
        ("operator {\n  policy = \"read\"\n  policy = \"write\"\n}", "line 3, col 3: HCL syntax error: invalid attribute; expected unique attribute key; found redefined attribute"),
        ("node {}", "line 1, col 1: node rule needs a policy"),
        ("namespace { policy = \"read\" }", "line 1, col 1: \"namespace\" needs one label, the namespace name"),
        ("node \"x\" { policy = \"read\" }", "line 1, col 6: \"node\" takes no label"),
        ("namespace \"a b\" { policy = \"read\" }", "line 1, col 11: invalid namespace \"a b\": use 1 to 128 letters, digits, '-' or '*'"),
        ("namespace = { policy = \"read\" }", "line 1, col 1: \"namespace\" must be a block"),
        ("node { policy = 3 }", "line 1, col 17: expected a string, found a number"),
        ("namespace \"a\" { capabilities = \"read-job\" }", "line 1, col 32: capabilities must be a list, found a string"),
        ("{\"namespace\": {}}", "line 1, col 1: JSON policy rules are not supported; write the rules in HCL"),
        ("# nothing here\n", "policy has no rules"),
    ];
    for (src, want) in cases {
        assert_eq!(err(src), *want, "for {src:?}");
    }
}

#[test]
fn syntax_errors_have_positions() {
    let e = parse_policy("node {\n  policy = \n}\n").unwrap_err();
    assert_eq!(e.line, 2, "{e}");
    assert!(e.to_string().starts_with("line 2, col "), "{e}");
}

#[test]
fn policy_shorthands_expand_as_documented() {
    assert_eq!(NamespacePolicy::Deny.capabilities(), vec![Deny]);
    let read = [
        ListJobs,
        ParseJob,
        ReadJob,
        CsiListVolume,
        CsiReadVolume,
        ListScalingPolicies,
        ReadScalingPolicy,
        ReadJobScaling,
    ];
    assert_eq!(caps(&NamespacePolicy::Read.capabilities()), caps(&read));
    let mut write = caps(&read);
    write.extend([
        ScaleJob,
        SubmitJob,
        DispatchJob,
        ReadLogs,
        ReadFs,
        AllocExec,
        AllocLifecycle,
        CsiWriteVolume,
        CsiMountVolume,
        SubmitRecommendation,
    ]);
    assert_eq!(caps(&NamespacePolicy::Write.capabilities()), write);
    assert!(!write.contains(&AllocNodeExec));
    assert_eq!(
        caps(&NamespacePolicy::Scale.capabilities()),
        caps(&[
            ListScalingPolicies,
            ReadScalingPolicy,
            ReadJobScaling,
            ScaleJob
        ])
    );
}

#[test]
fn capability_names_round_trip() {
    for cap in Capability::ALL {
        assert_eq!(cap.as_str().parse::<Capability>(), Ok(*cap));
        assert_eq!(cap.to_string(), cap.as_str());
        let json = serde_json::to_string(cap).unwrap();
        assert_eq!(json, format!("{:?}", cap.as_str()));
    }
    assert_eq!(Capability::ALL.len(), 27);
    let e = "nope".parse::<Capability>().unwrap_err();
    assert_eq!(e.to_string(), "unknown capability \"nope\"");
}

#[test]
fn policy_survives_serde_for_raft_state() {
    let p = parse("namespace \"*\" { policy = \"write\" }\nnode { policy = \"read\" }");
    let json = serde_json::to_string(&p).unwrap();
    assert!(json.contains("\"submit-job\""), "{json}");
    let back: Policy = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);
}

fn acl(srcs: &[&str]) -> Acl {
    let policies: Vec<Policy> = srcs.iter().map(|s| parse(s)).collect();
    Acl::from_policies(&policies)
}

#[test]
fn capabilities_of_one_namespace_add_up_across_policies() {
    let a = acl(&[
        "namespace \"web\" { policy = \"read\" }",
        "namespace \"web\" { capabilities = [\"submit-job\"] }",
    ]);
    assert!(a.allows_namespace("web", ReadJob));
    assert!(a.allows_namespace("web", SubmitJob));
    assert!(!a.allows_namespace("web", AllocExec));
    assert!(!a.allows_namespace("other", ReadJob), "no rule, no access");
    assert!(!a.allows_namespace("web", Deny));
}

#[test]
fn deny_wins_over_everything() {
    let a = acl(&[
        "namespace \"web\" { policy = \"write\" }",
        "namespace \"web\" { policy = \"deny\" }\nnode { policy = \"deny\" }",
        "node { policy = \"write\" }\nagent { policy = \"write\" }",
    ]);
    assert!(!a.allows_namespace("web", ReadJob));
    assert!(!a.allows_any_in_namespace("web"));
    assert!(!a.allows_node_read());
    assert!(a.allows_agent_write());
    // A deny capability written next to others vetoes them too.
    let b = acl(&["namespace \"x\" { capabilities = [\"read-job\", \"deny\"] }"]);
    assert!(!b.allows_namespace("x", ReadJob));
}

#[test]
fn exact_rule_beats_globs_and_closest_glob_wins() {
    let a = acl(&[r#"
        namespace "*" { policy = "read" }
        namespace "prod-*" { policy = "deny" }
        namespace "prod-api-*" { policy = "write" }
        namespace "prod-db" { policy = "scale" }
        namespace "*-test" { capabilities = ["read-logs"] }
    "#]);
    assert!(a.allows_namespace("dev", ReadJob));
    assert!(!a.allows_namespace("dev", SubmitJob));
    assert!(!a.allows_namespace("prod-web", ReadJob));
    assert!(a.allows_namespace("prod-api-v2", SubmitJob));
    assert!(a.allows_namespace("prod-db", ScaleJob));
    assert!(
        !a.allows_namespace("prod-db", ReadJob),
        "exact rule, not prod-*"
    );
    // "a-test": "*" stands for 6 characters, "*-test" for 1.
    assert!(a.allows_namespace("a-test", ReadLogs));
    assert!(!a.allows_namespace("a-test", ReadJob));
    assert!(a.allows_any_in_namespace("dev"));
    assert!(!acl(&["node { policy = \"read\" }"]).allows_any_in_namespace("dev"));
}

#[test]
fn glob_matching() {
    assert!(glob_matches("*", ""));
    assert!(glob_matches("*", "anything"));
    assert!(glob_matches("prod-*", "prod-"));
    assert!(glob_matches("a*b*c", "aXbYc"));
    assert!(glob_matches("a*b*c", "abc"));
    assert!(!glob_matches("a*b*c", "acb"));
    assert!(
        !glob_matches("ab*ba", "aba"),
        "prefix and suffix must not overlap"
    );
    assert!(glob_matches("exact", "exact"));
    assert!(!glob_matches("exact", "exact2"));
}

#[test]
fn write_implies_read_for_coarse_rules() {
    let a = acl(&[
        "node { policy = \"read\" }",
        "node { policy = \"write\" }\nagent { policy = \"read\" }\noperator { policy = \"write\" }",
    ]);
    assert!(a.allows_node_read() && a.allows_node_write());
    assert!(a.allows_agent_read() && !a.allows_agent_write());
    assert!(a.allows_operator_read() && a.allows_operator_write());
    let none = Acl::from_policies(&[]);
    assert!(!none.allows_node_read() && !none.allows_agent_read() && !none.allows_operator_read());
    assert!(!none.is_management());
}

#[test]
fn management_allows_everything() {
    let m = Acl::management();
    assert!(m.is_management());
    for cap in Capability::ALL.iter().filter(|c| **c != Deny) {
        assert!(m.allows_namespace("any", *cap));
    }
    assert!(m.allows_node_write() && m.allows_agent_write() && m.allows_operator_write());
    assert!(m.allows_any_in_namespace("whatever"));
}

#[test]
fn level_merge_table() {
    use Level::*;
    assert_eq!(Level::merge(None, None), None);
    assert_eq!(Level::merge(Some(Read), None), Some(Read));
    assert_eq!(Level::merge(Some(Read), Some(Write)), Some(Write));
    assert_eq!(Level::merge(Some(Write), Some(Deny)), Some(Deny));
    assert_eq!(Level::merge(Some(Deny), None), Some(Deny));
}

#[test]
fn token_wire_shape() {
    let t = AclToken {
        accessor_id: "acc".into(),
        secret_id: "sec".into(),
        name: "ops".into(),
        r#type: AclTokenType::Client,
        policies: vec!["readonly".into()],
        global: true,
        create_time: "2017-08-23T22:47:14.695408057Z".into(),
        create_index: 7,
        modify_index: 8,
    };
    let v = serde_json::to_value(&t).unwrap();
    for key in [
        "AccessorID",
        "SecretID",
        "Name",
        "Type",
        "Policies",
        "Global",
        "CreateTime",
    ] {
        assert!(v.get(key).is_some(), "{key} missing in {v}");
    }
    assert_eq!(v["Type"], "client");
    let stub = serde_json::to_value(t.stub()).unwrap();
    assert!(stub.get("SecretID").is_none());
    assert_eq!(stub["AccessorID"], "acc");

    // Nomad writes a management token's policies as null.
    let m: AclToken = serde_json::from_str(
        r#"{"AccessorID":"a","SecretID":"s","Name":null,"Type":"management","Policies":null}"#,
    )
    .unwrap();
    assert!(m.is_management() && m.policies.is_empty() && m.name.is_empty());
    assert!(
        serde_json::from_str::<AclToken>(r#"{"Name":"x"}"#).is_err(),
        "Type required"
    );
    assert!(serde_json::from_str::<AclToken>(r#"{"Type":"root"}"#).is_err());
}

#[test]
fn policy_and_bootstrap_wire_shape() {
    let p: AclPolicy = serde_json::from_str(
        r#"{"Name":"readonly","Description":null,"Rules":"node { policy = \"read\" }"}"#,
    )
    .unwrap();
    assert_eq!(p.name, "readonly");
    assert!(p.description.is_empty());
    let stub = serde_json::to_value(p.stub()).unwrap();
    assert!(stub.get("Rules").is_none() && stub["Name"] == "readonly");

    let empty: AclBootstrapRequest = serde_json::from_str("{}").unwrap();
    assert_eq!(empty.bootstrap_secret, None);
    assert_eq!(serde_json::to_string(&empty).unwrap(), "{}");
    let set: AclBootstrapRequest =
        serde_json::from_str(r#"{"BootstrapSecret":"2b778dd9-f5f1-6f29-b4b4-9a5fa948757a"}"#)
            .unwrap();
    assert!(set.bootstrap_secret.is_some());
    let null: AclBootstrapRequest = serde_json::from_str(r#"{"BootstrapSecret":null}"#).unwrap();
    assert_eq!(null.bootstrap_secret, None);
}

#[test]
fn variables_rules_choose_namespace_then_path() {
    use VariableCapability as V;
    let a = acl(&[r#"
        namespace "dev" {
          variables {
            path "project/*" { capabilities = ["write", "read", "destroy"] }
            path "system/*" { capabilities = ["read"] }
            path "project/secret" { capabilities = ["deny"] }
            path "*" { capabilities = ["list"] }
          }
        }
        namespace "*" {
          variables {
            path "*" { capabilities = ["read"] }
          }
        }
        namespace "prod" { policy = "read" }
        namespace "blocked" {
          policy = "deny"
        }
    "#]);
    assert!(a.allows_variable("dev", "project/web", V::Write));
    assert!(
        a.allows_variable("dev", "project/web", V::List),
        "write includes list"
    );
    assert!(a.allows_variable("dev", "project/web", V::Destroy));
    assert!(
        !a.allows_variable("dev", "project/secret", V::Read),
        "exact deny beats the glob"
    );
    assert!(a.allows_variable("dev", "system/x", V::Read));
    assert!(
        a.allows_variable("dev", "system/x", V::List),
        "read includes list"
    );
    assert!(!a.allows_variable("dev", "system/x", V::Write));
    assert!(
        !a.allows_variable("dev", "system", V::Read),
        "the glob needs the slash"
    );
    assert!(
        a.allows_variable("dev", "system", V::List),
        "falls to path \"*\""
    );
    // "staging" has no exact rule: the "*" namespace rule applies.
    assert!(a.allows_variable("staging", "any/thing", V::Read));
    assert!(!a.allows_variable("staging", "any/thing", V::Write));
    // "prod" has an exact rule without variables: the glob rule does not add to it.
    assert!(!a.allows_variable("prod", "any", V::Read));
    assert!(!a.allows_variable("blocked", "any", V::List));
    assert!(!a.allows_variable("dev", "project/web", V::Deny));
    assert!(Acl::management().allows_variable("x", "y", V::Destroy));
    assert!(
        a.allows_any_in_namespace("staging"),
        "a variables grant counts"
    );
}

#[test]
fn variables_capabilities_add_up_and_deny_wins_across_policies() {
    use VariableCapability as V;
    let a = acl(&[
        "namespace \"a\" {\n variables {\n path \"p/*\" { capabilities = [\"read\"] }\n }\n}",
        "namespace \"a\" {\n variables {\n path \"p/*\" { capabilities = [\"write\"] }\n }\n}",
    ]);
    assert!(a.allows_variable("a", "p/x", V::Read) && a.allows_variable("a", "p/x", V::Write));
    let b = acl(&[
        "namespace \"a\" {\n variables {\n path \"p/*\" { capabilities = [\"read\"] }\n }\n}",
        "namespace \"a\" {\n variables {\n path \"p/*\" { capabilities = [\"deny\"] }\n }\n}",
    ]);
    assert!(!b.allows_variable("a", "p/x", V::Read));
}
