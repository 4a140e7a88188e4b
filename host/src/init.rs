//! `create --init PATH`: init scripts applied once, at an instance's first start, before it
//! is reported ready. A plugin that declares its image's init directory gets the scripts
//! copied there before the container starts (the image runs them, like
//! `/docker-entrypoint-initdb.d`); otherwise the host runs each through the plugin's query
//! runner once the server is up. Either way a failing script fails the create, which then
//! removes what it made.

use crate::container::FileUpload;
use crate::plugin::bindings::InitSupport;
use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};

/// Largest script accepted (the exec runner's stdin limit as well).
const MAX_SCRIPT_BYTES: u64 = 4 << 20;
/// Largest total accepted.
const MAX_TOTAL_BYTES: u64 = 64 << 20;

/// One script as read from the user's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitScript {
    /// The file name (no directory), as the user sees it in errors.
    pub name: String,
    pub content: Vec<u8>,
    /// Named on the command line itself (an error if no engine runs it), rather than found
    /// in a directory.
    pub explicit: bool,
}

/// Reads `paths` in order: a file as is, a directory's files in name order.
///
/// `project`: the canonical directory of the project file that named the paths (an
/// untrusted file from a cloned repository): every path, and every file of a directory,
/// must stay inside it once links are resolved, or a symlink in the repository (or a
/// `../..`) would copy a host file into the container, and a failing script would echo
/// it to the terminal. The canonical path is the one read.
pub fn read(paths: &[PathBuf], project: Option<&Path>) -> anyhow::Result<Vec<InitScript>> {
    let field = if project.is_some() { "init" } else { "--init" };
    let inside = |path: &Path| -> anyhow::Result<PathBuf> {
        let Some(root) = project else {
            return Ok(path.to_path_buf());
        };
        let real = path
            .canonicalize()
            .with_context(|| format!("{field} {}", path.display()))?;
        if !real.starts_with(root) {
            bail!(
                "{field} {}: resolves to {}, outside the project directory {}; a project file may only \
                 name files inside its project",
                crate::output::escape(&path.display().to_string()),
                crate::output::escape(&real.display().to_string()),
                root.display()
            );
        }
        Ok(real)
    };
    let mut scripts = Vec::new();
    let mut total = 0u64;
    for path in paths {
        let real = inside(path)?;
        let meta = std::fs::metadata(&real).with_context(|| format!("{field} {}", path.display()))?;
        let files: Vec<(PathBuf, PathBuf, bool)> = if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&real)
                .with_context(|| format!("{field} {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            entries
                .into_iter()
                .map(|p| Ok((inside(&p)?, p, false)))
                .collect::<anyhow::Result<_>>()?
        } else {
            vec![(real, path.clone(), true)]
        };
        for (real, file, explicit) in files {
            let name = file_name(&file)?;
            let size = std::fs::metadata(&real)?.len();
            total += size;
            if size > MAX_SCRIPT_BYTES || total > MAX_TOTAL_BYTES {
                bail!(
                    "{field} {}: too large (limit {} MiB a script, {} MiB in all)",
                    file.display(),
                    MAX_SCRIPT_BYTES >> 20,
                    MAX_TOTAL_BYTES >> 20
                );
            }
            let content = std::fs::read(&real).with_context(|| format!("{field} {}", file.display()))?;
            scripts.push(InitScript {
                name,
                content,
                explicit,
            });
        }
    }
    Ok(scripts)
}

/// A file name that is safe as a path component in the container and in messages.
fn file_name(file: &Path) -> anyhow::Result<String> {
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("--init {}: the file name is not UTF-8", file.display()))?;
    if name.is_empty() || name.starts_with('.') || name.chars().any(|c| c.is_control() || c == '/') {
        bail!("--init {}: unusual file name; rename it", crate::output::escape(name));
    }
    Ok(name.to_string())
}

/// The scripts an engine with `support` runs (by suffix), in order.
pub fn for_engine(scripts: &[InitScript], support: Option<&InitSupport>) -> Vec<InitScript> {
    let Some(support) = support else { return Vec::new() };
    scripts
        .iter()
        .filter(|s| support.suffixes.iter().any(|suffix| s.name.ends_with(suffix.as_str())))
        .cloned()
        .collect()
}

/// The scripts copied into `directory`, numbered so the image's name order is the
/// command line's.
pub fn uploads(scripts: &[InitScript], directory: &str) -> Vec<FileUpload> {
    scripts
        .iter()
        .enumerate()
        .map(|(i, s)| FileUpload {
            path: format!("{}/{:04}-{}", directory.trim_end_matches('/'), i + 1, s.name),
            content: s.content.clone(),
            mode: 0o644,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_read_in_name_order_and_filtered_by_suffix() {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in [("b.sql", "b"), ("a.sql", "a"), ("notes.txt", "n"), ("c.redis", "c")] {
            std::fs::write(dir.path().join(name), body).unwrap();
        }
        let extra = dir.path().join("a.sql");
        let scripts = read(&[dir.path().to_path_buf(), extra], None).unwrap();
        let names: Vec<&str> = scripts.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a.sql", "b.sql", "c.redis", "notes.txt", "a.sql"]);
        assert!(scripts[4].explicit && !scripts[0].explicit);
        let sql = InitSupport {
            directory: Some("/docker-entrypoint-initdb.d/".into()),
            suffixes: vec![".sql".into()],
        };
        let picked = for_engine(&scripts, Some(&sql));
        assert_eq!(picked.len(), 3);
        let up = uploads(&picked, "/docker-entrypoint-initdb.d/");
        assert_eq!(up[0].path, "/docker-entrypoint-initdb.d/0001-a.sql");
        assert_eq!(up[2].path, "/docker-entrypoint-initdb.d/0003-a.sql");
        assert!(for_engine(&scripts, None).is_empty());
        // Outside a project a symlink is the user's own business.
        std::os::unix::fs::symlink(dir.path().join("a.sql"), dir.path().join("link.sql")).unwrap();
        assert_eq!(read(&[dir.path().join("link.sql")], None).unwrap()[0].content, b"a");
        assert!(
            read(&[dir.path().join("missing.sql")], None)
                .unwrap_err()
                .to_string()
                .contains("--init")
        );
    }

    #[test]
    fn a_project_cannot_name_files_outside_its_directory() {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret.sql");
        std::fs::write(&secret, "SELECT 'host secret';").unwrap();
        let repo = tempfile::tempdir().unwrap();
        let root = repo.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("db")).unwrap();
        std::fs::write(root.join("db/schema.sql"), "CREATE TABLE t ();").unwrap();
        std::os::unix::fs::symlink(&secret, root.join("link.sql")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("passwd.sql")).unwrap();
        std::fs::create_dir(root.join("seed")).unwrap();
        std::fs::write(root.join("seed/1.sql"), "SELECT 1;").unwrap();
        std::os::unix::fs::symlink(&secret, root.join("seed/2.sql")).unwrap();
        // An inside link is fine.
        std::os::unix::fs::symlink(root.join("db/schema.sql"), root.join("db/also.sql")).unwrap();
        let project = Some(root.as_path());

        let ok = read(&[root.join("db")], project).unwrap();
        assert_eq!(ok.len(), 2);
        let escapes = [
            root.join("link.sql"),
            root.join("passwd.sql"),
            root.join("seed"),
            root.join("db/../../")
                .join(outside.path().file_name().unwrap())
                .join("secret.sql"),
            secret.clone(),
        ];
        for path in escapes {
            let e = format!("{:#}", read(std::slice::from_ref(&path), project).unwrap_err());
            assert!(
                e.starts_with("init ") && e.contains("outside the project directory"),
                "{}: {e}",
                path.display()
            );
        }
        let e = format!("{:#}", read(&[root.join("seed")], project).unwrap_err());
        assert!(e.contains("2.sql"), "{e}");
    }
}
