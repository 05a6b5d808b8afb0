//! `service info NAME`: the registered instances of one service.

use crate::format::{self, kv, table_with};
use anyhow::Result;
use api::client::Client;
use api::ServiceRegistration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The service's name
    pub name: String,
    /// Show every field of each registration, with full ids and its checks
    #[arg(long)]
    pub verbose: bool,
    /// The namespace of the service
    #[arg(long, default_value = "default")]
    pub namespace: String,
    #[command(flatten)]
    pub output: crate::output_flags::OutputFlags,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let regs = client.service(&args.name, &args.namespace)?;
    if args.output.print(&regs)? {
        return Ok(0);
    }
    print!("{}", render(&regs, args.verbose));
    Ok(0)
}

fn address(r: &ServiceRegistration) -> String {
    if r.address.contains(':') {
        format!("[{}]:{}", r.address, r.port)
    } else {
        format!("{}:{}", r.address, r.port)
    }
}

pub fn render(regs: &[ServiceRegistration], verbose: bool) -> String {
    if regs.is_empty() {
        return "No service registrations found\n".into();
    }
    if !verbose {
        let rows = regs
            .iter()
            .map(|r| {
                vec![
                    r.job_id.clone(),
                    address(r),
                    format!("[{}]", r.tags.join(",")),
                    format::id(&r.node_id, false),
                    format::id(&r.alloc_id, false),
                ]
            })
            .collect();
        return table_with(&["Job ID", "Address", "Tags", "Node ID", "Alloc ID"], rows);
    }
    let blocks: Vec<String> = regs
        .iter()
        .map(|r| {
            let checks: Vec<String> = r
                .checks
                .iter()
                .map(|c| format!("{}: {}", c.name, c.status))
                .collect();
            kv(&[
                ("ID", r.id.clone()),
                ("Service Name", r.service_name.clone()),
                ("Namespace", r.namespace.clone()),
                ("Job ID", r.job_id.clone()),
                ("Alloc ID", r.alloc_id.clone()),
                ("Node ID", r.node_id.clone()),
                ("Datacenter", r.datacenter.clone()),
                ("Address", address(r)),
                ("Tags", format!("[{}]", r.tags.join(","))),
                ("Check Status", format::or_none(&r.check_status)),
                ("Checks", format::or_none(&checks.join(", "))),
            ])
        })
        .collect();
    blocks.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg() -> ServiceRegistration {
        ServiceRegistration {
            id: "_nomad-task-177160af-26f6-619f-9c9f-5e46d1104395-group-web-web-http".into(),
            service_name: "web".into(),
            namespace: "default".into(),
            node_id: "7406e90b-de16-d118-80fe-60d0f2730cb3".into(),
            datacenter: "dc1".into(),
            job_id: "example".into(),
            alloc_id: "177160af-26f6-619f-9c9f-5e46d1104395".into(),
            tags: vec!["db".into(), "redis".into()],
            address: "127.0.0.1".into(),
            port: 29702,
            check_status: "passing".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_table_like_nomads_and_a_verbose_form() {
        assert_eq!(
            render(&[reg()], false),
            "Job ID   Address          Tags        Node ID   Alloc ID\n\
             example  127.0.0.1:29702  [db,redis]  7406e90b  177160af\n"
        );
        let v = render(&[reg()], true);
        assert!(
            v.contains("Alloc ID     = 177160af-26f6-619f-9c9f-5e46d1104395\n"),
            "{v}"
        );
        assert!(v.contains("Check Status = passing\n"), "{v}");
        assert_eq!(render(&[], true), "No service registrations found\n");
    }
}
