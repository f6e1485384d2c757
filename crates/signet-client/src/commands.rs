//! What the notary-compatible commands compute and print: the `list`, `lookup`, `verify`
//! and `delegation list` logic over a [`VerifiedRepository`], and their output exactly as
//! the Go `notary` 0.7 CLI prints it (tables laid out like Go's `text/tabwriter`), plus a
//! JSON form (a Signet extension).
//!
//! The walk follows notary's `WalkTargets`: breadth first from `targets`; a delegated role
//! is visited with its paths restricted to those its parent allows; roles that did not
//! verify are not visited (nor their children); with roles given (`--roles`), each given
//! role's subtree is walked in turn, skipping the other given roles, and the first entry
//! found for a name wins.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;

use serde_json::json;
use signet_core::encoding::{hex_encode, sha256, sha512};
use signet_core::metadata::FileMeta;
use signet_core::{RoleName, Targets};

use crate::tabwriter;
use crate::{VerifiedRepository, VerifiedTarget, target};

/// A role reached in a walk, with its effective (restricted) paths.
pub(crate) struct Visit<'a> {
    pub(crate) role: RoleName,
    pub(crate) doc: &'a Targets,
    pub(crate) paths: Vec<String>,
}

/// Notary's `WalkTargets(target_path, role_path, skip)`: the roles visited, in order.
/// `target_path` empty: every role; `role_path` `None`: the whole tree.
pub(crate) fn walk<'a>(
    repo: &'a VerifiedRepository,
    target_path: &str,
    role_path: Option<&RoleName>,
    skip: &[RoleName],
) -> Vec<Visit<'a>> {
    let mut out = Vec::new();
    let mut queue = VecDeque::from([(RoleName::targets(), vec![String::new()])]);
    while let Some((role, paths)) = queue.pop_front() {
        let Some(doc) = repo.chain.role(&role) else {
            continue;
        };
        let doc = &doc.signed;
        let children = || valid_delegations(doc, &role, &paths);
        if let Some(rp) = role_path
            && rp.as_str().starts_with(&format!("{role}/"))
        {
            queue.extend(children());
            continue;
        }
        let path_ok = target_path.is_empty() || paths.iter().any(|p| target_path.starts_with(p));
        let in_subtree =
            role_path.is_none_or(|rp| *rp == role || role.as_str().starts_with(&format!("{rp}/")));
        if path_ok && in_subtree && !skip.contains(&role) {
            queue.extend(children());
            out.push(Visit { role, doc, paths });
        }
    }
    out
}

/// The children of `parent` whose keys are all listed, with paths restricted to the
/// parent's (notary's `GetValidDelegations`).
fn valid_delegations(
    doc: &Targets,
    parent: &RoleName,
    parent_paths: &[String],
) -> Vec<(RoleName, Vec<String>)> {
    doc.delegations
        .roles
        .iter()
        .filter(|d| {
            d.keyids
                .iter()
                .all(|k| doc.delegations.keys.contains_key(k))
        })
        .filter_map(|d| {
            let role = RoleName::parse(&d.name).ok()?;
            (role.parent().as_ref() == Some(parent)).then_some(())?;
            let paths = d
                .paths
                .iter()
                .flatten()
                .filter(|p| parent_paths.iter().any(|pp| p.starts_with(pp.as_str())))
                .cloned()
                .collect();
            Some((role, paths))
        })
        .collect()
}

fn to_target(name: &str, role: &RoleName, meta: &FileMeta) -> VerifiedTarget {
    target(name, role, meta)
}

/// `notary list GUN [--roles R,..]`: every target visible from `roles` (default
/// `targets`), the first entry per name in priority order; sorted by name.
pub fn list_targets(repo: &VerifiedRepository, roles: &[RoleName]) -> Vec<VerifiedTarget> {
    let (visited, found) = listed(repo, roles);
    found
        .into_iter()
        .map(|(name, i, meta)| to_target(name, &visited[i], meta))
        .collect()
}

/// What [`list_targets`] lists, borrowed from the chain: the roles visited, and sorted by
/// name, each name with the index of the role that lists it (in the first) and its entry.
#[allow(clippy::type_complexity)]
fn listed<'a>(
    repo: &'a VerifiedRepository,
    roles: &[RoleName],
) -> (Vec<RoleName>, Vec<(&'a str, usize, &'a FileMeta)>) {
    let default = [RoleName::targets()];
    let roles = if roles.is_empty() {
        &default[..]
    } else {
        roles
    };
    let mut visited = Vec::new();
    let mut found: Vec<(&str, usize, &FileMeta)> = Vec::new();
    // The names found so far, once a second role contributes: within one role's map the
    // names are unique and sorted already.
    let mut seen: Option<std::collections::HashSet<&str>> = None;
    let mut contributed = 0;
    for role in roles {
        let skip: Vec<RoleName> = roles.iter().filter(|r| *r != role).cloned().collect();
        for v in walk(repo, "", Some(role), &skip) {
            let index = visited.len();
            let allowed = |name: &str| v.paths.iter().any(|p| name.starts_with(p.as_str()));
            if found.is_empty() {
                found.extend(
                    v.doc
                        .targets
                        .iter()
                        .filter(|(name, _)| allowed(name))
                        .map(|(name, meta)| (name.as_str(), index, meta)),
                );
                contributed += usize::from(!found.is_empty());
            } else {
                let seen = seen.get_or_insert_with(|| found.iter().map(|f| f.0).collect());
                let before = found.len();
                for (name, meta) in &v.doc.targets {
                    if allowed(name) && seen.insert(name.as_str()) {
                        found.push((name.as_str(), index, meta));
                    }
                }
                contributed += usize::from(found.len() > before);
            }
            visited.push(v.role);
        }
    }
    if contributed > 1 {
        found.sort_unstable_by(|a, b| a.0.cmp(b.0));
    }
    (visited, found)
}

/// `notary lookup GUN NAME`: the entry of the first role (breadth first, within the given
/// roles' subtrees in order; default `targets`) that may sign `name` and lists it.
pub fn lookup_target(
    repo: &VerifiedRepository,
    name: &str,
    roles: &[RoleName],
) -> Option<VerifiedTarget> {
    let default = [RoleName::targets()];
    let roles = if roles.is_empty() {
        &default[..]
    } else {
        roles
    };
    for role in roles {
        let skip: Vec<RoleName> = roles.iter().filter(|r| *r != role).cloned().collect();
        for v in walk(repo, name, Some(role), &skip) {
            if let Some(meta) = v.doc.targets.get(name) {
                return Some(to_target(name, &v.role, meta));
            }
        }
    }
    None
}

/// One delegation as `notary delegation list` shows it: key IDs canonical (the bare public
/// key's ID for certificates), paths sorted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DelegationInfo {
    /// The delegated role.
    pub name: RoleName,
    /// Path prefixes, sorted.
    pub paths: Vec<String>,
    /// Canonical key IDs, in the order the delegation lists them.
    pub key_ids: Vec<String>,
    /// Threshold.
    pub threshold: i64,
}

/// `notary delegation list GUN`: every delegation listed by a verified targets role,
/// sorted by role name.
pub fn delegations(repo: &VerifiedRepository) -> Vec<DelegationInfo> {
    let mut out = Vec::new();
    for v in walk(repo, "", None, &[]) {
        for d in &v.doc.delegations.roles {
            let Ok(name) = RoleName::parse(&d.name) else {
                continue;
            };
            let key_ids = d
                .keyids
                .iter()
                .map(|id| {
                    v.doc
                        .delegations
                        .keys
                        .get(id)
                        .map_or_else(|| id.to_string(), |k| k.canonical_id().to_string())
                })
                .collect();
            let mut paths = d.paths.clone().unwrap_or_default();
            paths.sort();
            out.push(DelegationInfo {
                name,
                paths,
                key_ids,
                threshold: d.threshold,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Checks `payload` against the target's hashes as `notary verify` does (sha256 first,
/// then sha512; at least one must be listed). The error is notary's message.
pub fn check_payload(target: &VerifiedTarget, payload: &[u8]) -> Result<(), String> {
    let mut checked = 0;
    for (alg, actual) in [
        ("sha256", sha256(payload).to_vec()),
        ("sha512", sha512(payload).to_vec()),
    ] {
        if let Some(expected) = target.hashes.get(alg) {
            checked += 1;
            if !ring_eq(expected, &actual) {
                return Err(format!(
                    "{alg} checksum for {} did not match: expected {}",
                    target.name,
                    hex_encode(expected)
                ));
            }
        }
    }
    if checked == 0 {
        return Err(format!("tuf: sha256 checksum required for {}", target.name));
    }
    Ok(())
}

/// Constant-time comparison of two digests.
fn ring_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The header and underline rows of notary's tables.
fn header(columns: &[&str]) -> String {
    let mut s = columns.join("\t");
    s.push('\n');
    let dashes: Vec<String> = columns.iter().map(|c| "-".repeat(c.len())).collect();
    s.push_str(&dashes.join("\t"));
    s.push('\n');
    s
}

/// `notary list GUN [--roles R,..]` output: [`render_targets`] of [`list_targets`], without
/// copying every target first (a repository may list tens of thousands).
pub fn render_list(repo: &VerifiedRepository, roles: &[RoleName]) -> String {
    let (visited, found) = listed(repo, roles);
    if found.is_empty() {
        return render_targets(&[]);
    }
    let rows: Vec<ListRow<'_>> = found
        .iter()
        .map(|&(name, i, meta)| ListRow {
            name,
            digest: meta.sha256(),
            size: u64::try_from(meta.length).unwrap_or(0),
            role: visited[i].as_str(),
        })
        .collect();
    list_table(&rows)
}

/// One row of `notary list`.
struct ListRow<'a> {
    name: &'a str,
    digest: Option<&'a [u8]>,
    size: u64,
    role: &'a str,
}

const LIST_COLUMNS: [&str; 4] = ["NAME", "DIGEST", "SIZE (BYTES)", "ROLE"];

/// The `notary list` table. Every line has the same four cells, so Go's tabwriter makes one
/// column block per column over all lines: each of the first three columns is as wide as its
/// widest cell plus the padding. That is laid out here in one pass into a buffer of the
/// exact size, without the tab-separated text and per-line cell lists the general
/// [`tabwriter`] builds (for 10,000 targets, megabytes of memory touched once). A name
/// holding a tab or a line break changes the cells, as it does in Go: such a table goes
/// through the general layout.
fn list_table(rows: &[ListRow<'_>]) -> String {
    if rows.iter().any(|r| r.name.contains(['\t', '\n'])) {
        return list_table_general(rows);
    }
    let digits = |n: u64| n.checked_ilog10().map_or(1, |d| d as usize + 1);
    let digest_len = |r: &ListRow<'_>| r.digest.map_or(0, |d| 2 * d.len());
    let mut widths = LIST_COLUMNS.map(str::len);
    for r in rows {
        widths[0] = widths[0].max(r.name.chars().count());
        widths[1] = widths[1].max(digest_len(r));
        widths[2] = widths[2].max(digits(r.size));
    }
    let cell = |w: usize| (w + tabwriter::PADDING).max(tabwriter::MIN_WIDTH);
    let [name_w, digest_w, size_w] = [cell(widths[0]), cell(widths[1]), cell(widths[2])];
    let size: usize = rows
        .iter()
        .map(|r| {
            name_w + (r.name.len() - r.name.chars().count()) + digest_w + size_w + r.role.len() + 1
        })
        .sum::<usize>()
        + 2 * (name_w + digest_w + size_w + LIST_COLUMNS[3].len() + 1);
    let mut out = String::with_capacity(size);
    let pad = |out: &mut String, used: usize, width: usize| {
        out.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    };
    let dashes = LIST_COLUMNS.map(|c| "-".repeat(c.len()));
    for line in [LIST_COLUMNS.map(str::to_owned), dashes] {
        for (text, width) in line.iter().zip([name_w, digest_w, size_w]) {
            out.push_str(text);
            pad(&mut out, text.len(), width);
        }
        out.push_str(&line[3]);
        out.push('\n');
    }
    for r in rows {
        out.push_str(r.name);
        pad(&mut out, r.name.chars().count(), name_w);
        if let Some(d) = r.digest {
            push_hex(&mut out, d);
        }
        pad(&mut out, digest_len(r), digest_w);
        let before = out.len();
        let _ = write!(out, "{}", r.size);
        let used = out.len() - before;
        pad(&mut out, used, size_w);
        out.push_str(r.role);
        out.push('\n');
    }
    out
}

/// The same table through the general tabwriter (for names with tabs or line breaks).
fn list_table_general(rows: &[ListRow<'_>]) -> String {
    let mut t = header(&LIST_COLUMNS);
    for r in rows {
        t.push_str(r.name);
        t.push('\t');
        if let Some(h) = r.digest {
            push_hex(&mut t, h);
        }
        let _ = writeln!(t, "\t{}\t{}", r.size, r.role);
    }
    tabwriter::format(&t)
}

/// Appends `bytes` in lowercase hex.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
}

/// `notary list` output.
pub fn render_targets(targets: &[VerifiedTarget]) -> String {
    if targets.is_empty() {
        return "\nNo targets present in this repository.\n\n".to_owned();
    }
    let mut t = header(&["NAME", "DIGEST", "SIZE (BYTES)", "ROLE"]);
    for x in targets {
        let _ = writeln!(
            t,
            "{}\t{}\t{}\t{}",
            x.name,
            x.sha256_hex().unwrap_or_default(),
            x.length,
            x.role
        );
    }
    tabwriter::format(&t)
}

/// `notary lookup` output: `NAME sha256:HEX LENGTH`.
pub fn render_lookup(t: &VerifiedTarget) -> String {
    format!(
        "{} sha256:{} {}\n",
        t.name,
        t.sha256_hex().unwrap_or_default(),
        t.length
    )
}

/// `notary delegation list` output (with its blank lines before and after).
pub fn render_delegations(roles: &[DelegationInfo]) -> String {
    if roles.is_empty() {
        return "\n\nNo delegations present in this repository.\n\n\n".to_owned();
    }
    let mut t = header(&["ROLE", "PATHS", "KEY IDS", "THRESHOLD"]);
    for r in roles {
        let paths: Vec<String> = r
            .paths
            .iter()
            .map(|p| {
                if p.is_empty() {
                    "\"\" <all paths>".to_owned()
                } else {
                    p.clone()
                }
            })
            .collect();
        let _ = writeln!(
            t,
            "{}\t{}\t{}\t{}",
            r.name,
            paths.first().map_or("", String::as_str),
            r.key_ids.first().map_or("", String::as_str),
            r.threshold
        );
        for i in 1..paths.len().max(r.key_ids.len()) {
            let _ = writeln!(
                t,
                "\t{}\t{}\t",
                paths.get(i).map_or("", String::as_str),
                r.key_ids.get(i).map_or("", String::as_str)
            );
        }
    }
    format!("\n{}\n", tabwriter::format(&t))
}

/// A target as JSON (Signet's `--json`): name, role, length, hashes in hex, custom data.
pub fn target_json(t: &VerifiedTarget) -> serde_json::Value {
    let hashes: BTreeMap<&str, String> = t
        .hashes
        .iter()
        .map(|(k, v)| (k.as_str(), hex_encode(v)))
        .collect();
    let mut v = json!({
        "name": t.name,
        "digest": t.sha256_hex().map(|h| format!("sha256:{h}")),
        "size": t.length,
        "role": t.role.as_str(),
        "hashes": hashes,
    });
    if let Some(custom) = &t.custom {
        v["custom"] = custom.clone();
    }
    v
}

/// `list --json`: an array of [`target_json`] objects, sorted by name, one line.
pub fn render_targets_json(targets: &[VerifiedTarget]) -> String {
    let v: Vec<serde_json::Value> = targets.iter().map(target_json).collect();
    format!("{}\n", serde_json::Value::Array(v))
}

#[cfg(test)]
mod tests {
    use super::{ListRow, list_table, list_table_general};

    fn row<'a>(name: &'a str, digest: Option<&'a [u8]>, size: u64, role: &'a str) -> ListRow<'a> {
        ListRow {
            name,
            digest,
            size,
            role,
        }
    }

    #[test]
    fn list_table_lays_out_as_the_general_tabwriter() {
        let d32 = [0xab_u8; 32];
        let cases: Vec<Vec<ListRow<'_>>> = vec![
            vec![row("v1", Some(&d32), 1234, "targets")],
            vec![
                row("a", None, 0, "targets"),
                row("b", Some(&d32[..3]), 9, "x"),
            ],
            vec![
                row("ünïcödé-名前", Some(&d32), u64::MAX, "targets/releases"),
                row(
                    "a-much-longer-target-name-than-the-header",
                    Some(&d32),
                    10,
                    "targets",
                ),
                row("", Some(&d32), 100_000, "targets/a/b"),
            ],
            // A tab or a line break in a name splits cells and lines, as in Go.
            vec![
                row("tab\there", Some(&d32), 1, "targets"),
                row("x", None, 2, "targets"),
            ],
            vec![row("line\nbreak", Some(&d32), 1, "targets")],
        ];
        for rows in &cases {
            assert_eq!(list_table(rows), list_table_general(rows));
        }
        assert_eq!(
            list_table(&[row("v1", Some(&[0x0f, 0xa0]), 7, "targets")]),
            "NAME    DIGEST    SIZE (BYTES)    ROLE\n\
             ----    ------    ------------    ----\n\
             v1      0fa0      7               targets\n"
        );
    }
}
