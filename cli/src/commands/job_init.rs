//! `job init`: write the example job file to the current directory.

use anyhow::{bail, Context, Result};
use std::path::Path;

const EXAMPLE: &str = include_str!("../../../jobs/example.nomad.hcl");
const FILE_NAME: &str = "example.nomad.hcl";

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write the example without its explanatory comments
    #[arg(long)]
    pub short: bool,
}

pub fn run(args: &Args) -> Result<i32> {
    write_example(Path::new(FILE_NAME), args.short)?;
    println!("Example job file written to {FILE_NAME}");
    Ok(0)
}

fn write_example(path: &Path, short: bool) -> Result<()> {
    if path.exists() {
        bail!("Job '{}' already exists", path.display());
    }
    let text = if short {
        strip_comments(EXAMPLE)
    } else {
        EXAMPLE.to_string()
    };
    std::fs::write(path, text).with_context(|| format!("Failed to write '{}'", path.display()))
}

/// The short form: no comment-only lines and no blank lines.
fn strip_comments(src: &str) -> String {
    src.lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.is_empty() || t.starts_with('#') || t.starts_with("//"))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_form_drops_comments_and_blanks() {
        assert_eq!(
            strip_comments("# a\n\njob \"x\" {\n  // c\n  a = 1\n}\n"),
            "job \"x\" {\n  a = 1\n}\n"
        );
    }

    #[test]
    fn example_and_its_short_form_parse_and_validate() {
        for text in [EXAMPLE.to_string(), strip_comments(EXAMPLE)] {
            let job = api::jobspec::parse_str(&text, FILE_NAME).unwrap();
            crate::commands::job_validate::check(&job).unwrap();
        }
    }

    #[test]
    fn refuses_to_overwrite() {
        let dir = std::env::temp_dir().join(format!("nomadctl-init-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(FILE_NAME);
        let _ = std::fs::remove_file(&path);
        write_example(&path, false).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), EXAMPLE);
        let err = write_example(&path, false).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
