//! The documentation cannot drift: every relative link in README.md, CHANGELOG.md and docs/
//! leads somewhere (a file, and a heading when it names one), the README links every docs
//! page, and the configuration table lists exactly the flags and variables clap defines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::CommandFactory as _;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// README.md, CHANGELOG.md and every page under docs/.
fn documents() -> Vec<PathBuf> {
    let root = root();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    [root.join("README.md"), root.join("CHANGELOG.md")]
        .into_iter()
        .chain(docs)
        .collect()
}

/// The lines of a Markdown file outside fenced code blocks.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|l| {
            if l.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// GitHub's anchors for the headings of a Markdown file: lower case, punctuation dropped
/// (`-` and `_` kept), spaces as `-`, and `-1`, `-2`… on repeats.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut found = BTreeSet::new();
    for line in prose(text) {
        let Some(title) = line.strip_prefix('#').map(|t| t.trim_start_matches('#')) else {
            continue;
        };
        if !title.starts_with(' ') {
            continue;
        }
        let slug: String = title
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let n = seen.entry(slug.clone()).or_insert(0);
        found.insert(if *n == 0 {
            slug.clone()
        } else {
            format!("{slug}-{n}")
        });
        *n += 1;
    }
    found
}

/// The targets of the `[label](target)` links in a file's prose.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in prose(text) {
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = &rest[..end];
            if !target.is_empty() && !target.contains(char::is_whitespace) {
                found.push(target.to_owned());
            }
            rest = &rest[end..];
        }
    }
    found
}

fn is_external(target: &str) -> bool {
    target.contains("://") || target.starts_with("mailto:")
}

#[test]
fn every_relative_link_in_the_docs_leads_to_a_file_and_heading() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).expect("readable");
        for target in links(&text).into_iter().filter(|t| !is_external(t)) {
            checked += 1;
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target.as_str(), None),
            };
            let file = if path.is_empty() {
                doc.clone()
            } else {
                doc.parent().expect("in a directory").join(path)
            };
            if !file.exists() {
                broken.push(format!("{}: {target}: no such file", doc.display()));
                continue;
            }
            if let Some(anchor) = anchor
                && file.extension().is_some_and(|e| e == "md")
            {
                let headings = anchors(&std::fs::read_to_string(&file).expect("readable"));
                if !headings.contains(anchor) {
                    broken.push(format!("{}: {target}: no such heading", doc.display()));
                }
            }
        }
    }
    assert!(
        checked > 30,
        "only {checked} links found: is the parser right?"
    );
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_readme_links_every_docs_page_and_stays_short() {
    let root = root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let linked: BTreeSet<PathBuf> = links(&readme)
        .iter()
        .filter(|t| !is_external(t))
        .map(|t| root.join(t.split('#').next().unwrap_or_default()))
        .collect();
    for page in documents()
        .into_iter()
        .filter(|d| d.starts_with(root.join("docs")))
    {
        assert!(
            linked.contains(&page),
            "{} is not linked from the README's contents",
            page.display()
        );
    }
    let lines = readme.lines().count();
    assert!(
        lines < 400,
        "the README has {lines} lines: move reference to docs/"
    );
}

/// The configuration table's rows: the variables (first column) and flags (second column,
/// `--name` with any subcommand before it dropped) each names.
fn configuration_rows() -> Vec<(BTreeSet<String>, BTreeSet<String>)> {
    let text = std::fs::read_to_string(root().join("docs/configuration.md")).expect("page");
    let code_spans = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    };
    prose(&text)
        .into_iter()
        .skip_while(|l| !l.starts_with("| variable | flag |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').collect();
            let vars = code_spans(cells[1])
                .into_iter()
                .filter(|s| {
                    s.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                })
                .collect();
            let flags = code_spans(cells[2])
                .into_iter()
                .filter_map(|s| {
                    s.split_whitespace()
                        .find(|w| w.starts_with("--"))
                        .map(str::to_owned)
                })
                .collect();
            (vars, flags)
        })
        .collect()
}

/// Every flag clap defines, in any subcommand: `--long` and its variable.
fn clap_flags() -> Vec<(String, Option<String>)> {
    fn walk(command: &clap::Command, found: &mut Vec<(String, Option<String>)>) {
        for arg in command.get_arguments() {
            if let Some(long) = arg.get_long()
                && !matches!(long, "help" | "version")
            {
                let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
                found.push((format!("--{long}"), env));
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, found);
        }
    }
    let mut found = Vec::new();
    walk(&zendesk_crm::cli::Cli::command(), &mut found);
    found.sort();
    found.dedup();
    found
}

#[test]
fn the_configuration_table_and_the_command_line_agree() {
    let rows = configuration_rows();
    assert!(rows.len() > 30, "only {} rows parsed", rows.len());
    let flags = clap_flags();
    // Flags that only select what to print or where a cassette is, not a setting.
    let not_settings = ["--json", "--paste"];
    let mut drift = Vec::new();
    for (long, env) in &flags {
        match env {
            Some(var) => match rows.iter().find(|(vars, _)| vars.contains(var)) {
                None => drift.push(format!("{var} ({long}) is not in docs/configuration.md")),
                Some((_, row_flags)) if !row_flags.contains(long) => {
                    drift.push(format!("{var}'s row does not name {long}: {row_flags:?}"))
                }
                Some(_) => {}
            },
            None if not_settings.contains(&long.as_str()) => {}
            None => {
                if !(rows.iter().any(|(_, f)| f.contains(long)) || documented_elsewhere(long)) {
                    drift.push(format!("{long} is in no row of docs/configuration.md"));
                }
            }
        }
    }
    let known: BTreeSet<&str> = flags.iter().map(|(l, _)| l.as_str()).collect();
    let envs: BTreeSet<&str> = flags.iter().filter_map(|(_, e)| e.as_deref()).collect();
    let source = host_source();
    for (vars, row_flags) in &rows {
        for flag in row_flags {
            assert!(
                known.contains(flag.as_str()),
                "{flag} is documented but clap has none"
            );
        }
        for var in vars {
            // Read by the AWS SDK's own chain, or Google's Application Default Credentials;
            // every other variable is read by our code.
            let read = envs.contains(var.as_str())
                || var.starts_with("AWS_")
                || var == "GOOGLE_APPLICATION_CREDENTIALS"
                || source.contains(&format!("\"{var}\""))
                || var
                    .strip_suffix("_FILE")
                    .is_some_and(|base| source.contains(&format!("\"{base}\"")));
            if !read {
                drift.push(format!("{var} is documented but nothing reads it"));
            }
        }
    }
    assert!(
        drift.is_empty(),
        "docs/configuration.md and clap differ:\n{}",
        drift.join("\n")
    );
}

/// Flags documented on their own command's page rather than in the table.
fn documented_elsewhere(long: &str) -> bool {
    let docs = [
        "docs/record-replay.md",
        "docs/authentication.md",
        "README.md",
    ];
    docs.iter().any(|d| {
        std::fs::read_to_string(root().join(d))
            .unwrap_or_default()
            .contains(&format!("`{long}"))
    })
}

/// Every Rust source of the host, concatenated.
fn host_source() -> String {
    let mut text = String::new();
    let mut dirs = vec![root().join("host/src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                text.push_str(&std::fs::read_to_string(&path).expect("readable"));
            }
        }
    }
    text
}
