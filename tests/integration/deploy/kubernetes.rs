//! The Kubernetes recipe: each CronJob runs its shard of the feeds file as written, with its
//! ConfigMap and Secret mounted where the manifest says.

use std::collections::BTreeMap;

use serde_yaml_ng::Value as Yaml;

use super::{Accounts, container, cronjobs, manifests, run_as_written, strings};

#[test]
fn each_kubernetes_cronjob_runs_its_shard_as_written() {
    let all = manifests();
    let config_map = all
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .expect("a ConfigMap of feeds");
    // Shards share one data volume; each has its own pods and so its own other volumes.
    let data = tempfile::tempdir().unwrap();
    let mut feeds_seen = Vec::new();
    for job in cronjobs(&all) {
        let name = job["metadata"]["name"].as_str().unwrap();
        assert_eq!(job["spec"]["concurrencyPolicy"], "Forbid", "{name}");
        let pod = &job["spec"]["jobTemplate"]["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{name}");
        let c = container(job);
        assert_eq!(
            c["securityContext"]["readOnlyRootFilesystem"], true,
            "{name}"
        );
        assert_eq!(
            c["securityContext"]["allowPrivilegeEscalation"], false,
            "{name}"
        );
        assert!(c["resources"]["limits"]["memory"].is_string(), "{name}");

        let pod_dir = tempfile::tempdir().unwrap();
        let volumes: BTreeMap<&str, &Yaml> = pod["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| (v["name"].as_str().unwrap(), v))
            .collect();
        let mut paths = Vec::new();
        let mut feeds_file = None;
        for mount in c["volumeMounts"].as_sequence().unwrap() {
            let at = mount["mountPath"].as_str().unwrap().to_owned();
            let volume = volumes[mount["name"].as_str().unwrap()];
            let dir = if volume["persistentVolumeClaim"].is_mapping() {
                data.path().to_owned()
            } else {
                pod_dir.path().join(mount["name"].as_str().unwrap())
            };
            std::fs::create_dir_all(&dir).unwrap();
            if volume["configMap"].is_mapping() {
                let item = &volume["configMap"]["items"][0];
                let text = config_map["data"][item["key"].as_str().unwrap()]
                    .as_str()
                    .expect("the shard's feeds file is in the ConfigMap")
                    .to_owned();
                feeds_file = Some((text, dir.join(item["path"].as_str().unwrap())));
            }
            paths.push((at, dir));
        }
        let (text, write_to) = feeds_file.expect("a mounted feeds file");
        let accounts = Accounts::start(&text, &paths, &write_to);
        feeds_seen.extend(accounts.sims.keys().cloned());

        let env: Vec<(String, String)> = c["env"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_owned(),
                    e["value"]
                        .as_str()
                        .expect("plain values; secrets are files")
                        .to_owned(),
                )
            })
            .collect();
        let mut argv = strings(&c["command"]);
        argv.extend(strings(&c["args"]));
        let output = run_as_written(&argv, &env, &paths);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        accounts.assert_collected(data.path());
    }
    feeds_seen.sort();
    let before = feeds_seen.len();
    feeds_seen.dedup();
    assert_eq!(before, feeds_seen.len(), "a feed is in two shards");
}
