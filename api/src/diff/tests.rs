use super::*;
use crate::job::{Artifact, Service};

fn job() -> Job {
    let mut j = Job {
        id: "web".into(),
        name: "web".into(),
        datacenters: vec!["dc1".into()],
        task_groups: vec![TaskGroup {
            name: "g".into(),
            count: 2,
            tasks: vec![Task {
                name: "t".into(),
                driver: "java".into(),
                config: BTreeMap::from([
                    ("jar_path".to_string(), serde_json::json!("local/a.jar")),
                    ("args".to_string(), serde_json::json!(["v1"])),
                ]),
                artifacts: vec![Artifact {
                    getter_source: "http://h/v1.jar".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            services: vec![Service {
                name: "web".into(),
                tags: vec!["a".into()],
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    j.canonicalize();
    j
}

#[test]
fn an_identical_job_has_no_diff() {
    let d = job_diff(Some(&job()), &job(), false);
    assert_eq!(d.diff_type, DIFF_NONE);
    assert!(d.fields.is_empty() && d.objects.is_empty() && d.task_groups.is_empty());
    // Server-owned fields never count.
    let mut newer = job();
    newer.version = 3;
    newer.job_modify_index = 90;
    assert!(!job_diff(Some(&job()), &newer, false).changed());
}

#[test]
fn a_new_job_is_added_with_tasks_forcing_create() {
    let d = job_diff(None, &job(), false);
    assert_eq!(d.diff_type, DIFF_ADDED);
    let g = &d.task_groups[0];
    assert_eq!(g.diff_type, DIFF_ADDED);
    assert_eq!(g.tasks[0].annotations, [ANNOTATION_FORCES_CREATE]);
}

#[test]
fn a_config_change_forces_a_create_destroy_update() {
    let mut v2 = job();
    v2.task_groups[0].tasks[0]
        .config
        .insert("args".into(), serde_json::json!(["v2"]));
    v2.task_groups[0].tasks[0].artifacts[0].getter_source = "http://h/v2.jar".into();
    let d = job_diff(Some(&job()), &v2, false);
    assert_eq!(d.diff_type, DIFF_EDITED);
    let t = &d.task_groups[0].tasks[0];
    assert_eq!(t.annotations, [ANNOTATION_FORCES_DESTRUCTIVE]);
    let config = t.objects.iter().find(|o| o.name == "Config").unwrap();
    assert_eq!(
        config.fields,
        vec![FieldDiff {
            diff_type: DIFF_EDITED.into(),
            name: "args[0]".into(),
            old: "v1".into(),
            new: "v2".into(),
            annotations: vec![],
        }]
    );
    // As in Nomad, a changed artifact is the old one deleted and the new one added.
    let artifacts: Vec<(&str, &str)> = t
        .objects
        .iter()
        .filter(|o| o.name == "Artifact")
        .map(|o| {
            let src = o.fields.iter().find(|f| f.name == "GetterSource").unwrap();
            let url = if src.new.is_empty() {
                &src.old
            } else {
                &src.new
            };
            (o.diff_type.as_str(), url.as_str())
        })
        .collect();
    assert_eq!(
        artifacts,
        [
            (DIFF_DELETED, "http://h/v1.jar"),
            (DIFF_ADDED, "http://h/v2.jar")
        ]
    );
}

#[test]
fn count_meta_and_tags_are_in_place() {
    let mut v2 = job();
    v2.task_groups[0].count = 3;
    v2.task_groups[0].services[0].tags = vec!["a".into(), "b".into()];
    v2.datacenters.push("dc2".into());
    let d = job_diff(Some(&job()), &v2, false);
    let g = &d.task_groups[0];
    let count = g.fields.iter().find(|f| f.name == "Count").unwrap();
    assert_eq!((count.old.as_str(), count.new.as_str()), ("2", "3"));
    assert_eq!(count.annotations, [ANNOTATION_FORCES_CREATE]);
    assert!(g.tasks.is_empty(), "{:?}", g.tasks);
    let svc = g.objects.iter().find(|o| o.name == "Service").unwrap();
    let tags = svc.objects.iter().find(|o| o.name == "Tags").unwrap();
    assert_eq!(tags.fields[0].diff_type, DIFF_ADDED);
    assert_eq!(tags.fields[0].new, "b");
    let dcs = d.objects.iter().find(|o| o.name == "Datacenters").unwrap();
    assert_eq!(dcs.fields.len(), 1);
    assert!(!destructive_change(
        &job().task_groups[0],
        &v2.task_groups[0]
    ));
    // A new disk size is reserved only by a new allocation.
    v2.task_groups[0].ephemeral_disk = Some(crate::job::EphemeralDisk {
        size_mb: 5000,
        ..Default::default()
    });
    assert!(destructive_change(
        &job().task_groups[0],
        &v2.task_groups[0]
    ));
}

#[test]
fn contextual_diffs_list_what_did_not_change() {
    let mut v2 = job();
    v2.priority = 60;
    let d = job_diff(Some(&job()), &v2, true);
    assert!(d
        .fields
        .iter()
        .any(|f| f.name == "Type" && f.diff_type == DIFF_NONE));
    let p = d.fields.iter().find(|f| f.name == "Priority").unwrap();
    assert_eq!(p.diff_type, DIFF_EDITED);
}
