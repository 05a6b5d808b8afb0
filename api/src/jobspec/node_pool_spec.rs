//! The file `node pool apply` takes: one `node_pool "name" { description meta {} }` block, as
//! Nomad's `node pool init` writes it.

use super::decode::{Block, Fields};
use super::tree::{Pos, TreeError};
use super::JobspecError;
use crate::node_pool::{validate_pool_name, NodePool};

pub fn parse_node_pool(src: &str, filename: &str) -> Result<NodePool, JobspecError> {
    let at = |e| JobspecError::from_tree(filename, e);
    let body = super::hcl::parse(src).map_err(at)?;
    let top = Fields::new(
        Block::new(&body, Pos { line: 1, col: 1 }, "a node pool file"),
        &[],
        &["node_pool"],
    )
    .map_err(at)?;
    let pools = top.labelled("node_pool").map_err(at)?;
    let (label, body, pos) = match pools.as_slice() {
        [one] => one,
        [] => {
            return Err(JobspecError::new(
                filename,
                0,
                0,
                "no node_pool block: write node_pool \"name\" { description = \"...\" }",
            ))
        }
        [_, (second, _, _), ..] => {
            return Err(at(TreeError::new(
                second.pos,
                "a node pool file holds exactly one node_pool; this is the second",
            )))
        }
    };
    validate_pool_name(&label.name).map_err(|e| at(TreeError::new(label.pos, e)))?;
    let what = format!("node_pool {:?}", label.name);
    let f = Fields::new(Block::new(body, *pos, what), &["description", "meta"], &[]).map_err(at)?;
    Ok(NodePool {
        name: label.name.clone(),
        description: f.string("description").map_err(at)?.unwrap_or_default(),
        meta: f.string_map("meta").map_err(at)?.unwrap_or_default(),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_pool_and_names_what_is_wrong() {
        let p = parse_node_pool(
            "node_pool \"gpu\" {\n  description = \"GPU nodes\"\n  meta {\n    team = \"ml\"\n  }\n}\n",
            "gpu.hcl",
        )
        .unwrap();
        assert_eq!(p.name, "gpu");
        assert_eq!(p.description, "GPU nodes");
        assert_eq!(p.meta.get("team").map(String::as_str), Some("ml"));

        let err = parse_node_pool("node_pool \"gpu\" {\n  scheduler_config {}\n}\n", "p.hcl")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("p.hcl:2:3:"), "{err}");
        assert!(err.contains("scheduler_config\" is not supported"), "{err}");
        let err = parse_node_pool("node_pool \"a b\" {}\n", "p.hcl")
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid node pool name"), "{err}");
        let err = parse_node_pool("node_pool \"a\" {\n descripton = \"x\"\n}\n", "p.hcl")
            .unwrap_err()
            .to_string();
        assert!(err.contains("did you mean"), "{err}");
    }
}
