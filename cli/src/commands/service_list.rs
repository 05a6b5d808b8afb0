//! `service list`: the names in the service catalog, with their tags.

use crate::format::table_with;
use anyhow::Result;
use api::client::Client;
use api::ServiceRegistrationListStub;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The namespace to list, or "*" for all
    #[arg(long, default_value = "default")]
    pub namespace: String,
    #[command(flatten)]
    pub output: crate::output_flags::OutputFlags,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let list = client.services(&args.namespace)?;
    if args.output.print(&list)? {
        return Ok(0);
    }
    print!("{}", render(&list, args.namespace == "*"));
    Ok(0)
}

pub fn render(list: &[ServiceRegistrationListStub], all_namespaces: bool) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .flat_map(|ns| {
            ns.services.iter().map(move |s| {
                let tags = format!("[{}]", s.tags.join(","));
                if all_namespaces {
                    vec![s.service_name.clone(), ns.namespace.clone(), tags]
                } else {
                    vec![s.service_name.clone(), tags]
                }
            })
        })
        .collect();
    if rows.is_empty() {
        return "No service registrations found\n".into();
    }
    if all_namespaces {
        table_with(&["Service Name", "Namespace", "Tags"], rows)
    } else {
        table_with(&["Service Name", "Tags"], rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::ServiceNameStub;

    #[test]
    fn lists_names_and_tags() {
        let list = vec![ServiceRegistrationListStub {
            namespace: "default".into(),
            services: vec![
                ServiceNameStub {
                    service_name: "hello-docker".into(),
                    tags: vec!["v1".into(), "web".into()],
                },
                ServiceNameStub {
                    service_name: "db".into(),
                    tags: vec![],
                },
            ],
        }];
        assert_eq!(
            render(&list, false),
            "Service Name  Tags\nhello-docker  [v1,web]\ndb            []\n"
        );
        assert!(render(&list, true).starts_with("Service Name  Namespace  Tags\n"));
        assert_eq!(render(&[], false), "No service registrations found\n");
    }
}
