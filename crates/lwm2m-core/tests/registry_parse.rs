//! Parses every object definition of the OMA LwM2M registry copy in
//! `/work/shared/lwm2m-registry` (top level and `version_history/`) with the
//! DDF parser and loads them into one `ModelRegistry`.
//!
//! The numbers below are those observed when the test was written: a change
//! of the parser that makes fewer files parse, or rejects a different set of
//! files, fails here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // failures are test failures

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use lwm2m_core::model::ddf;
use lwm2m_core::{
    Error, ModelLookup, ModelRegistry, ObjectModel, Operations, ResourceType, Version,
};

#[path = "support/registry_dir.rs"]
mod registry_dir;

/// Files in the registry that are XML but not object definitions:
/// `DDF.xml` is the index of all objects (`<DDFList>`), `Common.xml` the
/// reusable resources (`ObjectType="CommonResources"`, no ObjectID) and
/// `LWM2M_senml_units.xml` the SenML unit list (`<units>`).
const NOT_OBJECT_DEFINITIONS: &[&str] = &["Common.xml", "DDF.xml", "LWM2M_senml_units.xml"];

/// Object definition files observed when this test was written: 327 at the
/// top level (330 XML files less the three above) and 424 in `version_history/`.
const OBSERVED_PARSED_FILES: usize = 751;

/// Object definition files the parser rejects, with a fragment of the reason.
/// The official registry is clean by the parser's rules, so this is empty.
const EXPECTED_REJECTED: &[(&str, &str)] = &[];

fn xml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    files
}

/// `version_history/3-1_1.xml` style name relative to the registry.
fn relative(path: &Path) -> String {
    path.strip_prefix(registry_dir::registry_dir())
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

struct Outcome {
    parsed: BTreeMap<String, Vec<ObjectModel>>,
    rejected: BTreeMap<String, Error>,
    skipped: Vec<String>,
}

/// Parsed once for all tests of this file (about 750 files).
fn parse_registry() -> &'static Outcome {
    static OUTCOME: OnceLock<Outcome> = OnceLock::new();
    OUTCOME.get_or_init(parse_registry_files)
}

fn parse_registry_files() -> Outcome {
    let dir = registry_dir::registry_dir();
    let mut files = xml_files(&dir);
    files.extend(xml_files(&dir.join("version_history")));
    let mut out = Outcome {
        parsed: BTreeMap::new(),
        rejected: BTreeMap::new(),
        skipped: Vec::new(),
    };
    for path in files {
        let name = relative(&path);
        let bytes = std::fs::read(&path).unwrap();
        let result = ddf::parse_bytes(&name, &bytes);
        if NOT_OBJECT_DEFINITIONS.contains(&name.as_str()) {
            // Not object definitions, and the parser must say so rather than
            // produce a bogus model.
            let err = result.expect_err(&name);
            assert!(err.to_string().contains(&name), "{err}");
            out.skipped.push(name);
            continue;
        }
        match result {
            Ok(models) => {
                out.parsed.insert(name, models);
            }
            Err(err) => {
                let Error::Model {
                    source_name,
                    reason,
                } = &err
                else {
                    panic!("{name}: not a model error: {err:?}");
                };
                assert_eq!(source_name, &name, "the error names the file");
                assert!(!reason.is_empty(), "{name}: the error says why");
                out.rejected.insert(name, err);
            }
        }
    }
    out
}

#[test]
fn every_registry_file_parses_or_names_its_fault() {
    let out = parse_registry();
    for (name, err) in &out.rejected {
        eprintln!("rejected {name}: {err}");
    }
    eprintln!(
        "{} registry files parse, {} rejected, {} skipped",
        out.parsed.len(),
        out.rejected.len(),
        out.skipped.len()
    );
    assert_eq!(
        out.skipped, NOT_OBJECT_DEFINITIONS,
        "non-object files found"
    );
    assert!(
        out.parsed.len() >= OBSERVED_PARSED_FILES,
        "only {} registry files parse, {OBSERVED_PARSED_FILES} did before",
        out.parsed.len()
    );
    let rejected: Vec<&str> = out.rejected.keys().map(String::as_str).collect();
    let expected: Vec<&str> = EXPECTED_REJECTED.iter().map(|(n, _)| *n).collect();
    assert_eq!(rejected, expected, "the set of rejected files changed");
    for (name, fragment) in EXPECTED_REJECTED {
        let err = out.rejected[*name].to_string();
        assert!(err.contains(fragment), "{name}: {err}");
    }
    // Each file holds one object, and the file name says which.
    for (name, models) in &out.parsed {
        assert_eq!(models.len(), 1, "{name}");
        let file = name.rsplit('/').next().unwrap();
        let stem = file.trim_end_matches(".xml");
        let id: u16 = stem.split('-').next().unwrap().parse().unwrap();
        assert_eq!(models[0].id, id, "{name}");
        if let Some((_, ver)) = stem.split_once('-') {
            let version: Version = ver.replace('_', ".").parse().unwrap();
            assert_eq!(models[0].version, version, "{name}");
        }
    }
}

fn load_all() -> ModelRegistry {
    let mut reg = ModelRegistry::new();
    for model in parse_registry().parsed.values().flatten() {
        reg.insert(model.clone());
    }
    reg
}

#[test]
fn versions_side_by_side_in_one_registry() {
    let reg = load_all();
    // Every (id, version) pair, top-level files being duplicates of the
    // newest entry of version_history.
    assert!(reg.len() >= 424, "{} models", reg.len());

    let device: Vec<Version> = reg.versions(3).map(|m| m.version).collect();
    assert_eq!(device, vec![Version::V1_0, Version::V1_1, Version::V1_2]);
    let d10 = reg.get(3, Some(Version::V1_0)).unwrap();
    let d11 = reg.get(3, Some(Version::V1_1)).unwrap();
    let d12 = reg.get(3, Some(Version::V1_2)).unwrap();
    assert_eq!(
        (d10.lwm2m_version, d11.lwm2m_version, d12.lwm2m_version),
        (Version::V1_0, Version::V1_1, Version::V1_1)
    );
    assert_eq!(d10.resources[&11].range.as_deref(), Some("0-8"));
    assert_eq!(d11.resources[&11].range.as_deref(), Some("0..8"));
    assert_eq!(
        d12.resources[&11].range.as_deref(),
        Some("0..32"),
        "Device 1.2 widened Error Code"
    );
    assert_eq!(d10.resources[&13].kind, ResourceType::Time);
    assert_eq!(d12.resources[&22].kind, ResourceType::ObjectLink);

    let fw: Vec<Version> = reg.versions(5).map(|m| m.version).collect();
    assert!(fw.starts_with(&[Version::V1_0, Version::V1_1]), "{fw:?}");
    let fw10 = reg.get(5, Some(Version::V1_0)).unwrap();
    let fw11 = reg.get(5, Some(Version::V1_1)).unwrap();
    assert!(!fw10.resources.contains_key(&13) && fw11.resources.contains_key(&13));
    assert_eq!(
        fw11.resources[&10].operations,
        Operations::Execute,
        "1.1 adds Cancel"
    );

    // This copy of the registry holds BinaryAppDataContainer 1.0 only (no 1.1 file).
    assert_eq!(
        reg.versions(19).map(|m| m.version).collect::<Vec<_>>(),
        vec![Version::V1_0]
    );
    let bin10 = reg.get(19, Some(Version::V1_0)).unwrap();
    assert_eq!(bin10.resources[&0].kind, ResourceType::Opaque);
    assert!(bin10.resources[&0].multiple);

    // Lookups without a version use the newest loaded one.
    assert_eq!(reg.object(3).unwrap().version, Version::V1_2);
}

#[test]
fn device_view_picks_the_registered_version() {
    let mut reg = load_all();
    for model in lwm2m_core::model::builtin::core_objects() {
        reg.insert(model);
    }
    let versions = [(5u16, Version::V1_1), (3, Version::V1_0)]
        .into_iter()
        .collect();
    let view = reg.for_device(&versions);
    assert_eq!(view.object(5).unwrap().version, Version::V1_1);
    assert_eq!(view.object(3).unwrap().version, Version::V1_0);
    assert!(
        view.resource(5, 13).is_some(),
        "Maximum Defer Period exists in 5 1.1"
    );
}
