//! The client side of `ImportObjectModels`: the DDF files of a directory and
//! their grouping into uploads. Shared by `lwm2mctl models import DIR` and
//! the `import.oma_models` benchmark, so both upload exactly alike.

use std::path::{Path, PathBuf};

use crate::registry::v1::DdfFile;

/// One upload stays far below the registry's 32 MiB default limit.
pub const MAX_BATCH_BYTES: usize = 8 << 20;

/// A file or directory that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct DdfDirError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

fn unreadable(path: &Path) -> impl FnOnce(std::io::Error) -> DdfDirError + '_ {
    move |source| DdfDirError {
        path: path.to_owned(),
        source,
    }
}

/// Every `.xml` file under `dir`, sub-directories included (the OMA
/// registry keeps old versions in `version_history/`), named as the registry
/// will name it in errors — its path relative to `dir` with `/` separators —
/// and sorted by name so runs are repeatable.
pub fn collect(dir: &Path) -> Result<Vec<DdfFile>, DdfDirError> {
    let mut paths = Vec::new();
    walk(dir, &mut paths)?;
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        let content = std::fs::read(&path).map_err(unreadable(&path))?;
        let name = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        files.push(DdfFile { name, content });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DdfDirError> {
    for entry in std::fs::read_dir(dir).map_err(unreadable(dir))? {
        let path = entry.map_err(unreadable(dir))?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("xml"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Consecutive groups of at most `max_files` files and (unless one file is
/// larger on its own) `MAX_BATCH_BYTES` bytes.
pub fn batches(files: &[DdfFile], max_files: usize) -> Vec<&[DdfFile]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, file) in files.iter().enumerate() {
        let full = i - start >= max_files.max(1)
            || (i > start && bytes + file.content.len() > MAX_BATCH_BYTES);
        if full {
            out.push(&files[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += file.content.len();
    }
    if start < files.len() {
        out.push(&files[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, size: usize) -> DdfFile {
        DdfFile {
            name: name.into(),
            content: vec![b'x'; size],
        }
    }

    #[test]
    fn xml_files_are_found_in_sub_directories_named_relative_and_sorted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("version_history")).unwrap();
        std::fs::write(dir.path().join("3.xml"), "<a/>").unwrap();
        std::fs::write(dir.path().join("README.md"), "no").unwrap();
        std::fs::write(dir.path().join("version_history/3-1_0.XML"), "<b/>").unwrap();
        let names: Vec<String> = collect(dir.path())
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(names, ["3.xml", "version_history/3-1_0.XML"]);
    }

    #[test]
    fn a_missing_directory_names_it() {
        let err = collect(Path::new("/no/such/dir")).unwrap_err();
        assert!(err.to_string().contains("/no/such/dir"), "{err}");
    }

    #[test]
    fn batches_respect_the_file_count_and_the_byte_budget() {
        let files: Vec<DdfFile> = (0..5).map(|i| file(&i.to_string(), 10)).collect();
        let sizes: Vec<usize> = batches(&files, 2).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [2, 2, 1]);
        let big = vec![file("a", 10), file("b", MAX_BATCH_BYTES), file("c", 10)];
        let names: Vec<Vec<&str>> = batches(&big, 50)
            .iter()
            .map(|b| b.iter().map(|f| f.name.as_str()).collect())
            .collect();
        assert_eq!(names, [vec!["a"], vec!["b"], vec!["c"]]);
        assert!(batches(&[], 3).is_empty());
    }
}
