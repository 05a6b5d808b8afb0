//! Nomad spells long flags with one dash (`-detach`, `-address=http://..`); clap wants two.
//! We rewrite argv before clap sees it, turning `-word` into `--word` only when `word` is a
//! long flag that some command defines, so short flags (`-f`, `-n 5`, `-c 100`) stay short.

use clap::CommandFactory;
use std::collections::BTreeSet;

/// Every long flag name the command tree defines (plus clap's own `help` and `version`).
pub fn known_long_flags<C: CommandFactory>() -> BTreeSet<String> {
    let mut names = BTreeSet::from(["help".to_string(), "version".to_string()]);
    collect(&C::command(), &mut names);
    names
}

fn collect(cmd: &clap::Command, names: &mut BTreeSet<String>) {
    for arg in cmd.get_arguments() {
        if let Some(long) = arg.get_long() {
            names.insert(long.to_string());
        }
        for alias in arg.get_all_aliases().into_iter().flatten() {
            names.insert(alias.to_string());
        }
    }
    for sub in cmd.get_subcommands() {
        collect(sub, names);
    }
}

/// Rewrites single-dash long flags to double-dash. Stops at `--` (what follows is positional).
pub fn normalize(argv: Vec<String>, longs: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len());
    let mut rest_positional = false;
    for (i, arg) in argv.into_iter().enumerate() {
        if i == 0 || rest_positional {
            out.push(arg);
            continue;
        }
        if arg == "--" {
            rest_positional = true;
            out.push(arg);
            continue;
        }
        out.push(rewrite(arg, longs));
    }
    out
}

fn rewrite(arg: String, longs: &BTreeSet<String>) -> String {
    let Some(word) = arg.strip_prefix('-') else {
        return arg;
    };
    if word.starts_with('-') {
        return arg;
    }
    let name = word.split_once('=').map_or(word, |(n, _)| n);
    if name.chars().count() > 1 && longs.contains(name) {
        format!("-{arg}")
    } else {
        arg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    fn longs() -> BTreeSet<String> {
        [
            "detach",
            "address",
            "check-index",
            "tail",
            "stderr",
            "verbose",
            "purge",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    #[test]
    fn single_dash_long_flags_gain_a_dash() {
        let out = normalize(
            v(&[
                "nomadctl",
                "job",
                "run",
                "-detach",
                "-check-index",
                "5",
                "-address=http://x:1",
                "a.hcl",
            ]),
            &longs(),
        );
        assert_eq!(
            out,
            v(&[
                "nomadctl",
                "job",
                "run",
                "--detach",
                "--check-index",
                "5",
                "--address=http://x:1",
                "a.hcl"
            ])
        );
    }

    #[test]
    fn short_flags_values_and_unknown_words_stay() {
        let out = normalize(
            v(&[
                "nomadctl",
                "alloc",
                "logs",
                "-f",
                "-n",
                "5",
                "-c",
                "100",
                "-tail",
                "-stderr",
                "-xyz",
                "--verbose",
            ]),
            &longs(),
        );
        assert_eq!(
            out,
            v(&[
                "nomadctl",
                "alloc",
                "logs",
                "-f",
                "-n",
                "5",
                "-c",
                "100",
                "--tail",
                "--stderr",
                "-xyz",
                "--verbose"
            ])
        );
    }

    #[test]
    fn nothing_after_double_dash_is_touched() {
        let out = normalize(v(&["nomadctl", "--", "-detach"]), &longs());
        assert_eq!(out, v(&["nomadctl", "--", "-detach"]));
    }
}
