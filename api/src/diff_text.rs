//! A job diff as Nomad prints it (`job plan`, `job history -p`): `+` added, `-` deleted, `+/-`
//! edited, field names aligned within a block, and what each change forces.

use crate::diff::{
    FieldDiff, JobDiff, ObjectDiff, TaskDiff, TaskGroupDiff, DIFF_ADDED, DIFF_DELETED, DIFF_EDITED,
    DIFF_NONE,
};

fn marker(diff_type: &str) -> &'static str {
    match diff_type {
        DIFF_ADDED => "+",
        DIFF_DELETED => "-",
        DIFF_EDITED => "+/-",
        _ => "",
    }
}

/// A whole job, group or task that is added or deleted shows as its header line only, unless
/// verbose (as Nomad prints a new job: `+ Job`, `+ Task Group`, `+ Task`).
fn condensed(diff_type: &str, verbose: bool) -> bool {
    !verbose && (diff_type == DIFF_ADDED || diff_type == DIFF_DELETED)
}

/// Whether a line of this type shows: everything when verbose, else only changes.
fn shown(diff_type: &str, verbose: bool) -> bool {
    verbose || diff_type != DIFF_NONE
}

fn pad(indent: usize) -> String {
    " ".repeat(indent)
}

/// Where a line starts: its change marker at `indent`, or `blank` spaces on an unchanged line.
fn lead(diff_type: &str, indent: usize, blank: usize) -> String {
    match marker(diff_type) {
        "" => pad(blank),
        m => format!("{}{m} ", pad(indent)),
    }
}

/// ` (a, b)` after a line, or nothing.
fn notes(annotations: &[String]) -> String {
    if annotations.is_empty() {
        String::new()
    } else {
        format!(" ({})", annotations.join(", "))
    }
}

/// `+/- Name: "old" => "new"`, the values of a block aligned after the longest name.
fn field_line(f: &FieldDiff, indent: usize, width: usize) -> String {
    let value = match f.diff_type.as_str() {
        DIFF_ADDED => format!("{:?}", f.new),
        DIFF_DELETED => format!("{:?}", f.old),
        DIFF_EDITED => format!("{:?} => {:?}", f.old, f.new),
        _ => format!("{:?}", f.new),
    };
    let lead = lead(&f.diff_type, indent, indent + 4);
    let notes = notes(&f.annotations);
    let key = format!("{}:", f.name);
    format!("{lead}{key:<w$} {value}{notes}", w = width + 1)
}

fn fields_text(fields: &[FieldDiff], indent: usize, verbose: bool) -> String {
    let shown_fields: Vec<&FieldDiff> = fields
        .iter()
        .filter(|f| shown(&f.diff_type, verbose))
        .collect();
    let width = shown_fields.iter().map(|f| f.name.len()).max().unwrap_or(0);
    shown_fields
        .iter()
        .map(|f| field_line(f, indent, width) + "\n")
        .collect()
}

fn object_text(o: &ObjectDiff, indent: usize, verbose: bool) -> String {
    if !shown(&o.diff_type, verbose) {
        return String::new();
    }
    let lead = lead(&o.diff_type, indent, indent + 4);
    let mut out = format!("{lead}{} {{\n", o.name);
    out.push_str(&fields_text(&o.fields, indent + 2, verbose));
    for child in &o.objects {
        out.push_str(&object_text(child, indent + 2, verbose));
    }
    out.push_str(&format!("{}}}\n", pad(indent + 4)));
    out
}

fn block_text(
    fields: &[FieldDiff],
    objects: &[ObjectDiff],
    indent: usize,
    verbose: bool,
) -> String {
    let mut out = fields_text(fields, indent, verbose);
    for o in objects {
        out.push_str(&object_text(o, indent, verbose));
    }
    out
}

fn task_text(t: &TaskDiff, indent: usize, verbose: bool) -> String {
    if !shown(&t.diff_type, verbose) {
        return String::new();
    }
    let lead = lead(&t.diff_type, indent, indent + 4);
    let notes = notes(&t.annotations);
    let mut out = format!("{lead}Task: {:?}{notes}\n", t.name);
    if !condensed(&t.diff_type, verbose) {
        out.push_str(&block_text(&t.fields, &t.objects, indent + 2, verbose));
    }
    out
}

fn group_text(g: &TaskGroupDiff, verbose: bool) -> String {
    if !shown(&g.diff_type, verbose) && g.updates.is_empty() {
        return String::new();
    }
    let updates: Vec<String> = g
        .updates
        .iter()
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect();
    let lead = lead(&g.diff_type, 0, 2);
    let notes = notes(&updates);
    let mut out = format!("{lead}Task Group: {:?}{notes}\n", g.name);
    if !condensed(&g.diff_type, verbose) {
        out.push_str(&block_text(&g.fields, &g.objects, 2, verbose));
    }
    for t in &g.tasks {
        out.push_str(&task_text(t, 2, verbose));
    }
    out
}

/// The whole diff, from the job line down.
pub fn job_text(d: &JobDiff, verbose: bool) -> String {
    let lead = lead(&d.diff_type, 0, 2);
    let mut out = format!("{lead}Job: {:?}\n", d.id);
    if !condensed(&d.diff_type, verbose) {
        out.push_str(&block_text(&d.fields, &d.objects, 0, verbose));
    }
    for g in &d.task_groups {
        out.push_str(&group_text(g, verbose));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn field(t: &str, name: &str, old: &str, new: &str) -> FieldDiff {
        FieldDiff {
            diff_type: t.into(),
            name: name.into(),
            old: old.into(),
            new: new.into(),
            annotations: vec![],
        }
    }

    #[test]
    fn prints_like_nomad() {
        let d = JobDiff {
            diff_type: DIFF_EDITED.into(),
            id: "hello-java".into(),
            fields: vec![field(DIFF_NONE, "Priority", "50", "50")],
            objects: vec![],
            task_groups: vec![TaskGroupDiff {
                diff_type: DIFF_EDITED.into(),
                name: "web".into(),
                fields: vec![],
                objects: vec![],
                tasks: vec![TaskDiff {
                    diff_type: DIFF_EDITED.into(),
                    name: "server".into(),
                    fields: vec![],
                    objects: vec![
                        ObjectDiff {
                            diff_type: DIFF_EDITED.into(),
                            name: "Config".into(),
                            fields: vec![
                                field(DIFF_EDITED, "args[0]", "v1", "v2"),
                                field(DIFF_NONE, "jar_path", "local/a.jar", "local/a.jar"),
                            ],
                            objects: vec![],
                        },
                        ObjectDiff {
                            diff_type: DIFF_ADDED.into(),
                            name: "Artifact".into(),
                            fields: vec![field(DIFF_ADDED, "GetterSource", "", "http://h/v2.jar")],
                            objects: vec![],
                        },
                    ],
                    annotations: vec!["forces create/destroy update".into()],
                }],
                updates: BTreeMap::from([("create/destroy update".to_string(), 2)]),
            }],
        };
        assert_eq!(
            job_text(&d, false),
            "+/- Job: \"hello-java\"\n\
             +/- Task Group: \"web\" (2 create/destroy update)\n\
             \x20 +/- Task: \"server\" (forces create/destroy update)\n\
             \x20   +/- Config {\n\
             \x20     +/- args[0]: \"v1\" => \"v2\"\n\
             \x20       }\n\
             \x20   + Artifact {\n\
             \x20     + GetterSource: \"http://h/v2.jar\"\n\
             \x20       }\n"
        );
        let new = JobDiff {
            diff_type: DIFF_ADDED.into(),
            fields: vec![field(DIFF_ADDED, "Priority", "", "50")],
            task_groups: vec![TaskGroupDiff {
                diff_type: DIFF_ADDED.into(),
                name: "web".into(),
                fields: vec![field(DIFF_ADDED, "Count", "", "1")],
                tasks: vec![TaskDiff {
                    diff_type: DIFF_ADDED.into(),
                    name: "server".into(),
                    annotations: vec!["forces create".into()],
                    ..Default::default()
                }],
                updates: BTreeMap::from([("create".to_string(), 1)]),
                ..Default::default()
            }],
            ..d.clone()
        };
        assert_eq!(
            job_text(&new, false),
            "+ Job: \"hello-java\"\n+ Task Group: \"web\" (1 create)\n  + Task: \"server\" (forces create)\n"
        );
        let verbose = job_text(&d, true);
        assert!(verbose.contains("    Priority: \"50\"\n"), "{verbose}");
        assert!(
            verbose.contains("        jar_path: \"local/a.jar\"\n"),
            "{verbose}"
        );
        assert!(
            verbose.contains("      +/- args[0]:  \"v1\" => \"v2\"\n"),
            "{verbose}"
        );
    }
}
