//! `node pool apply|list|info|nodes|jobs|delete`: the pools nodes are grouped in, and that jobs
//! place in, as Nomad prints them.

use crate::format::{kv, or_none, table_with};
use anyhow::{anyhow, Context, Result};
use api::client::Client;
use api::node_pool::NodePool;
use api::{JobListStub, NodeListStub};

#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    /// Read the file as JSON (a NodePool object) instead of HCL
    #[arg(long)]
    pub json: bool,
    /// The node pool file (`node_pool "name" { description meta {} }`), or `-` for stdin
    pub path: String,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Only pools whose name starts with this
    #[arg(long, default_value = "")]
    pub prefix: String,
    #[command(flatten)]
    pub output: crate::output_flags::OutputFlags,
}

#[derive(clap::Args, Debug)]
pub struct NameArgs {
    /// The node pool's name
    pub name: String,
    #[command(flatten)]
    pub output: crate::output_flags::OutputFlags,
}

#[derive(clap::Args, Debug)]
pub struct NodesArgs {
    /// The node pool's name
    pub name: String,
    /// Full ids, with address and version
    #[arg(long)]
    pub verbose: bool,
    #[command(flatten)]
    pub output: crate::output_flags::OutputFlags,
}

#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    /// The node pool's name
    pub name: String,
}

pub fn apply(client: &Client, args: &ApplyArgs) -> Result<i32> {
    let (text, file) = if args.path == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .context("Error reading the node pool from stdin")?;
        (s, "<stdin>".to_string())
    } else {
        let s = std::fs::read_to_string(&args.path)
            .with_context(|| format!("Error reading node pool file {}", args.path))?;
        (s, args.path.clone())
    };
    let pool: NodePool = if args.json {
        api::nulls::from_slice(text.as_bytes())
            .map_err(|e| anyhow!("Error parsing node pool: {file}: {e}"))?
    } else {
        api::jobspec::parse_node_pool(&text, &file)
            .map_err(|e| anyhow!("Error parsing node pool: {e}"))?
    };
    client
        .put::<_, serde_json::Value>(&format!("/v1/node/pool/{}", pool.name), &[], &pool)
        .map_err(|e| anyhow!("Error applying node pool: {e}"))?;
    println!("Successfully applied node pool {:?}!", pool.name);
    Ok(0)
}

pub fn list(client: &Client, args: &ListArgs) -> Result<i32> {
    let list: Vec<NodePool> = client
        .get("/v1/node/pools", &[("prefix", args.prefix.as_str())])
        .map_err(|e| anyhow!("Error retrieving node pools: {e}"))?
        .0;
    if !args.output.print(&list)? {
        print!("{}", render_list(&list));
    }
    Ok(0)
}

pub fn render_list(list: &[NodePool]) -> String {
    if list.is_empty() {
        return "No node pools found\n".into();
    }
    let rows = list
        .iter()
        .map(|p| vec![p.name.clone(), p.description.clone()])
        .collect();
    table_with(&["Name", "Description"], rows)
}

pub fn info(client: &Client, args: &NameArgs) -> Result<i32> {
    let pool: NodePool = client
        .get(&format!("/v1/node/pool/{}", args.name), &[])
        .map_err(|e| anyhow!("Error retrieving node pool: {e}"))?
        .0;
    if !args.output.print(&pool)? {
        print!("{}", render_info(&pool));
    }
    Ok(0)
}

pub fn render_info(pool: &NodePool) -> String {
    let mut out = kv(&[
        ("Name", pool.name.clone()),
        ("Description", or_none(&pool.description)),
    ]);
    out.push_str("\nMetadata\n");
    if pool.meta.is_empty() {
        out.push_str("No metadata\n");
    } else {
        out.push_str(&crate::format::kv_map(&pool.meta));
    }
    out
}

pub fn nodes(client: &Client, args: &NodesArgs) -> Result<i32> {
    let nodes: Vec<NodeListStub> = client
        .get(&format!("/v1/node/pool/{}/nodes", args.name), &[])
        .map_err(|e| anyhow!("Error retrieving nodes: {e}"))?
        .0;
    if args.output.print(&nodes)? {
        return Ok(0);
    }
    if nodes.is_empty() {
        println!("No nodes in node pool {:?}", args.name);
    } else {
        print!("{}", crate::tables::nodes(&nodes, args.verbose));
    }
    Ok(0)
}

/// The jobs in every namespace unless `-namespace` names one.
pub fn jobs(client: &Client, args: &NameArgs) -> Result<i32> {
    let ns = client.namespace().unwrap_or("*").to_string();
    let jobs: Vec<JobListStub> = client
        .get(
            &format!("/v1/node/pool/{}/jobs", args.name),
            &[("namespace", ns.as_str())],
        )
        .map_err(|e| anyhow!("Error retrieving jobs: {e}"))?
        .0;
    if args.output.print(&jobs)? {
        return Ok(0);
    }
    if jobs.is_empty() {
        println!("No jobs in node pool {:?}", args.name);
        return Ok(0);
    }
    let rows = jobs
        .iter()
        .map(|j| {
            vec![
                j.id.clone(),
                j.namespace.clone(),
                j.job_type.clone(),
                j.priority.to_string(),
                crate::tables::job_status(&j.status, j.stop),
            ]
        })
        .collect();
    print!(
        "{}",
        table_with(&["ID", "Namespace", "Type", "Priority", "Status"], rows)
    );
    Ok(0)
}

pub fn delete(client: &Client, args: &DeleteArgs) -> Result<i32> {
    client
        .delete_no_content(&format!("/v1/node/pool/{}", args.name), &[])
        .map_err(|e| anyhow!("Error deleting node pool: {e}"))?;
    println!("Successfully deleted node pool {:?}!", args.name);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_shows_like_nomad() {
        let text = render_list(&NodePool::built_in());
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("Name") && lines[0].contains("Description"));
        assert!(lines[1].starts_with("all") && lines[2].starts_with("default"));
        let mut gpu = NodePool {
            name: "gpu".into(),
            ..Default::default()
        };
        assert!(render_info(&gpu).contains("No metadata"));
        gpu.meta.insert("team".into(), "ml".into());
        let info = render_info(&gpu);
        assert!(info.contains("Description = <none>"), "{info}");
        assert!(info.contains("team = ml"), "{info}");
    }
}
