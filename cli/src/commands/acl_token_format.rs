//! How `acl bootstrap` and the `acl token` commands print a token, as Nomad does.

use crate::format::kv;
use api::acl::AclToken;

pub fn render(t: &AclToken) -> String {
    let policies = if t.policies.is_empty() {
        "n/a".to_string()
    } else {
        format!("[{}]", t.policies.join(" "))
    };
    let secret = if t.secret_id.is_empty() {
        "<hidden>".to_string()
    } else {
        t.secret_id.clone()
    };
    kv(&[
        ("Accessor ID", t.accessor_id.clone()),
        ("Secret ID", secret),
        ("Name", crate::format::or_none(&t.name)),
        ("Type", t.r#type.to_string()),
        ("Global", t.global.to_string()),
        ("Create Time", create_time(&t.create_time)),
        ("Expiry Time", "<none>".into()),
        ("Create Index", t.create_index.to_string()),
        ("Modify Index", t.modify_index.to_string()),
        ("Policies", policies),
        ("Roles", "n/a".into()),
    ])
}

/// Nomad prints Go's time format: `2017-09-11 17:38:10.999089612 +0000 UTC`.
fn create_time(rfc3339: &str) -> String {
    match api::time::parse_rfc3339(rfc3339) {
        Some(nanos) => {
            let frac = nanos.rem_euclid(1_000_000_000);
            // "YYYY-MM-DDTHH:MM:SSZ" -> "YYYY-MM-DD HH:MM:SS.nnnnnnnnn +0000 UTC"
            let base = api::time::rfc3339_secs(nanos);
            let day_time = base.trim_end_matches('Z').replacen('T', " ", 1);
            format!("{day_time}.{frac:09} +0000 UTC")
        }
        None => crate::format::or_none(rfc3339),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::acl::AclTokenType;

    #[test]
    fn a_token_prints_as_nomad_prints_it() {
        let t = AclToken {
            accessor_id: "5b7fd453-d3f7-6814-81dc-fcfe6daedea5".into(),
            secret_id: "9184ec35-65d4-9258-61e3-0c066d0a45c5".into(),
            name: "Bootstrap Token".into(),
            r#type: AclTokenType::Management,
            global: true,
            create_time: "2017-09-11T17:38:10.999089612Z".into(),
            create_index: 7,
            modify_index: 7,
            ..AclToken::default()
        };
        let out = render(&t);
        assert!(
            out.starts_with("Accessor ID  = 5b7fd453-d3f7-6814-81dc-fcfe6daedea5\n"),
            "{out}"
        );
        assert!(
            out.contains("Secret ID    = 9184ec35-65d4-9258-61e3-0c066d0a45c5\n"),
            "{out}"
        );
        assert!(out.contains("Type         = management\n"), "{out}");
        assert!(
            out.contains("Create Time  = 2017-09-11 17:38:10.999089612 +0000 UTC\n"),
            "{out}"
        );
        assert!(out.contains("Policies     = n/a\n"), "{out}");
        let client = AclToken {
            policies: vec!["read".into(), "ops".into()],
            secret_id: String::new(),
            ..t
        };
        let out = render(&client);
        assert!(out.contains("Policies     = [read ops]\n"), "{out}");
        assert!(out.contains("Secret ID    = <hidden>\n"), "{out}");
    }
}
