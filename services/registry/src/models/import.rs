//! Turning an upload of DDF files into models, all or nothing.
//!
//! Every file is parsed before anything is stored, so one broken file
//! rejects the whole upload with every broken file named and nothing
//! half-imported. Parsing is CPU work (the OMA registry is ~750 files):
//! callers run it off the async executor.

use std::collections::BTreeMap;

use lwm2m_core::model::ddf;

use super::{ModelKey, NewModel};
use crate::error::{Error, FileError};

/// One uploaded file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DdfFile {
    pub name: String,
    pub content: Vec<u8>,
}

/// A well-formed XML file that holds no object definition, left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedFile {
    pub file: String,
    pub reason: String,
}

/// The models of an upload, one per `(object id, version)`.
#[derive(Clone, Debug, Default)]
pub struct ParsedUpload {
    pub models: Vec<NewModel>,
    pub skipped: Vec<SkippedFile>,
    /// Definitions that a later file of the same upload defined again (the
    /// later file wins, as if uploaded one after the other). The OMA
    /// registry has each newest version twice: top level and `version_history/`.
    pub superseded: Vec<(ModelKey, String)>,
}

/// Parses every file. `skip_non_definitions`: well-formed XML that is not an
/// object definition (the registry's `DDF.xml` index, `Common.xml`, the
/// SenML units list) is reported as skipped instead of failing the upload.
pub fn parse_upload(files: &[DdfFile], skip_non_definitions: bool) -> Result<ParsedUpload, Error> {
    if files.is_empty() {
        return Err(Error::invalid("files", "no file uploaded"));
    }
    let mut errors = Vec::new();
    let mut upload = ParsedUpload::default();
    let mut by_key: BTreeMap<ModelKey, NewModel> = BTreeMap::new();
    for (index, file) in files.iter().enumerate() {
        if file.name.trim().is_empty() {
            errors.push(FileError {
                file: format!("files[{index}]"),
                reason: "has no name".to_owned(),
            });
            continue;
        }
        match ddf::parse_bytes(&file.name, &file.content) {
            Ok(models) => {
                let xml = String::from_utf8_lossy(&file.content).into_owned();
                for model in models {
                    let key = ModelKey {
                        object_id: model.id,
                        version: model.version,
                    };
                    let new = NewModel {
                        model,
                        source_name: file.name.clone(),
                        ddf_xml: xml.clone(),
                    };
                    if let Some(old) = by_key.insert(key, new) {
                        upload.superseded.push((key, old.source_name));
                    }
                }
            }
            Err(e) => {
                let reason = match e {
                    lwm2m_core::Error::Model { reason, .. } => reason,
                    other => other.to_string(),
                };
                match non_definition(&file.content) {
                    Some(what) if skip_non_definitions => upload.skipped.push(SkippedFile {
                        file: file.name.clone(),
                        reason: what,
                    }),
                    _ => errors.push(FileError {
                        file: file.name.clone(),
                        reason,
                    }),
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(Error::InvalidModels(errors));
    }
    if by_key.is_empty() {
        return Err(Error::invalid(
            "files",
            "no object definition in the upload (every file was skipped)",
        ));
    }
    upload.models = by_key.into_values().collect();
    Ok(upload)
}

/// Why well-formed XML is not an object definition, or `None` when it is
/// broken XML or an object definition with a fault (those are errors).
fn non_definition(content: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(content).ok()?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: 200_000,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, options).ok()?;
    let root = doc.root_element();
    let root_name = root.tag_name().name();
    if !root_name.eq_ignore_ascii_case("LWM2M") {
        return Some(format!("root element <{root_name}> is not <LWM2M>"));
    }
    let objects: Vec<_> = root
        .children()
        .filter(|n| n.is_element() && n.tag_name().name().eq_ignore_ascii_case("Object"))
        .collect();
    let definition = |o: &roxmltree::Node<'_, '_>| {
        o.attribute("ObjectType")
            .is_none_or(|t| t.trim().eq_ignore_ascii_case("MODefinition"))
    };
    if !objects.is_empty() && !objects.iter().any(definition) {
        let kinds: Vec<&str> = objects
            .iter()
            .filter_map(|o| o.attribute("ObjectType"))
            .collect();
        return Some(format!("holds ObjectType {kinds:?}, not MODefinition"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn ddf(id: u16, version: &str, name: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<LWM2M><Object ObjectType="MODefinition"><Name>{name}</Name><ObjectID>{id}</ObjectID>
<ObjectVersion>{version}</ObjectVersion><MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>
<Resources><Item ID="0"><Name>Value</Name><Operations>R</Operations><MultipleInstances>Single</MultipleInstances>
<Mandatory>Mandatory</Mandatory><Type>Integer</Type></Item></Resources></Object></LWM2M>"#
        )
    }

    fn file(name: &str, text: &str) -> DdfFile {
        DdfFile {
            name: name.into(),
            content: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn one_broken_file_rejects_the_upload_and_every_fault_is_named() {
        let files = [
            file("good.xml", &ddf(40000, "1.0", "Good")),
            file("broken.xml", "<LWM2M><Object>"),
            file("noid.xml", "<LWM2M><Object><Name>x</Name></Object></LWM2M>"),
        ];
        let err = parse_upload(&files, true).unwrap_err();
        let Error::InvalidModels(faults) = &err else {
            panic!("{err}")
        };
        let names: Vec<&str> = faults.iter().map(|f| f.file.as_str()).collect();
        assert_eq!(names, ["broken.xml", "noid.xml"]);
        assert!(faults[0].reason.contains("XML"), "{}", faults[0].reason);
        assert!(
            faults[1].reason.contains("ObjectID"),
            "{}",
            faults[1].reason
        );
    }

    #[test]
    fn non_definitions_are_skipped_only_when_asked() {
        let index = file("DDF.xml", "<DDFList><Item/></DDFList>");
        let good = file("a.xml", &ddf(40001, "1.1", "A"));
        let upload = parse_upload(&[index.clone(), good.clone()], true).unwrap();
        assert_eq!(upload.models.len(), 1);
        assert_eq!(upload.skipped[0].file, "DDF.xml");
        assert!(parse_upload(&[index.clone(), good], false).is_err());
        let only_index = parse_upload(&[index], true).unwrap_err();
        assert_eq!(only_index.field_errors()[0].field, "files");
    }

    #[test]
    fn later_files_supersede_earlier_definitions() {
        let upload = parse_upload(
            &[
                file("top/3.xml", &ddf(40002, "1.2", "Old")),
                file("hist/3-1_2.xml", &ddf(40002, "1.2", "New")),
                file("hist/3-1_1.xml", &ddf(40002, "1.1", "Older")),
            ],
            false,
        )
        .unwrap();
        assert_eq!(upload.models.len(), 2);
        let v12 = upload
            .models
            .iter()
            .find(|m| m.model.version == lwm2m_core::Version::V1_2)
            .unwrap();
        assert_eq!(
            (v12.model.name.as_str(), v12.source_name.as_str()),
            ("New", "hist/3-1_2.xml")
        );
        assert_eq!(upload.superseded[0].1, "top/3.xml");
    }

    #[test]
    fn an_empty_upload_is_invalid() {
        assert!(parse_upload(&[], false).is_err());
    }
}
