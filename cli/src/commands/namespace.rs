//! `namespace apply|list|status|delete`: the namespaces jobs live in, as Nomad prints them.

use crate::format::{kv, or_none, table_with};
use anyhow::{anyhow, Result};
use api::client::Client;
use api::namespace::Namespace;

#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    /// The namespace's name
    pub name: String,
    /// What the namespace is for
    #[arg(long, default_value = "")]
    pub description: String,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub output: crate::output_flags::OutputFlags,
}

#[derive(clap::Args, Debug)]
pub struct NameArgs {
    /// The namespace's name
    pub name: String,
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// The namespace's name
    pub name: String,
    #[command(flatten)]
    pub output: crate::output_flags::OutputFlags,
}

pub fn apply(client: &Client, args: &ApplyArgs) -> Result<i32> {
    let ns = Namespace {
        name: args.name.clone(),
        description: args.description.clone(),
        ..Default::default()
    };
    client
        .put::<_, serde_json::Value>(&format!("/v1/namespace/{}", args.name), &[], &ns)
        .map_err(|e| anyhow!("Error applying namespace: {e}"))?;
    println!("Successfully applied namespace {:?}!", args.name);
    Ok(0)
}

pub fn list(client: &Client, args: &ListArgs) -> Result<i32> {
    let list: Vec<Namespace> = client
        .get("/v1/namespaces", &[])
        .map_err(|e| anyhow!("Error retrieving namespaces: {e}"))?
        .0;
    if !args.output.print(&list)? {
        print!("{}", render_list(&list));
    }
    Ok(0)
}

pub fn render_list(list: &[Namespace]) -> String {
    if list.is_empty() {
        return "No namespaces found\n".into();
    }
    let rows = list
        .iter()
        .map(|n| vec![n.name.clone(), n.description.clone()])
        .collect();
    table_with(&["Name", "Description"], rows)
}

pub fn status(client: &Client, args: &StatusArgs) -> Result<i32> {
    let ns: Namespace = client
        .get(&format!("/v1/namespace/{}", args.name), &[])
        .map_err(|e| anyhow!("Error retrieving namespace: {e}"))?
        .0;
    if args.output.print(&ns)? {
        return Ok(0);
    }
    print!(
        "{}",
        kv(&[
            ("Name", ns.name.clone()),
            ("Description", or_none(&ns.description)),
            ("Quota", or_none("")),
        ])
    );
    Ok(0)
}

pub fn delete(client: &Client, args: &NameArgs) -> Result<i32> {
    client
        .delete_no_content(&format!("/v1/namespace/{}", args.name), &[])
        .map_err(|e| anyhow!("Error deleting namespace: {e}"))?;
    println!("Successfully deleted namespace {:?}!", args.name);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_like_nomad() {
        let text = render_list(&[
            Namespace::default_namespace(),
            Namespace {
                name: "api-prod".into(),
                description: "Production API".into(),
                ..Default::default()
            },
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("Name") && lines[0].contains("Description"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("api-prod") && lines[2].ends_with("Production API"),
            "{text}"
        );
    }
}
