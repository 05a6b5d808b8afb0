//! `agent-info`: the queried agent's stats, section by section, as Nomad prints them.

use anyhow::{anyhow, Result};
use api::client::Client;
use serde_json::Value;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub output: crate::output_flags::OutputFlags,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let info = client
        .agent_self()
        .map_err(|e| anyhow!("Error querying agent info: {e}"))?;
    if !args.output.print(&info)? {
        print!("{}", render(&info));
    }
    Ok(0)
}

/// `section` then `  key = value`, both sorted.
pub fn render(info: &Value) -> String {
    let mut out = String::new();
    let Some(stats) = info.get("stats").and_then(Value::as_object) else {
        return out;
    };
    let mut sections: Vec<_> = stats.iter().collect();
    sections.sort_by(|a, b| a.0.cmp(b.0));
    for (name, values) in sections {
        out.push_str(name);
        out.push('\n');
        let Some(values) = values.as_object() else {
            continue;
        };
        let mut pairs: Vec<_> = values.iter().collect();
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        for (k, v) in pairs {
            let v = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            out.push_str(&format!("  {k} = {v}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_and_keys_are_sorted() {
        let info = serde_json::json!({
            "stats": {
                "raft": {"term": "3", "applied_index": "12"},
                "client": {"node_id": "abc"},
            }
        });
        assert_eq!(
            render(&info),
            "client\n  node_id = abc\nraft\n  applied_index = 12\n  term = 3\n"
        );
    }
}
