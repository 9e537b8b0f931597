//! OMA DDF XML object model parser (LWM2M.xsd / LWM2M-v1_1.xsd).
//!
//! Object models reach a server as DDF files: the OMA registry's, or a
//! vendor's uploaded by an operator. This module turns the *text* of one
//! such file into [`ObjectModel`]s; reading files and walking directories is
//! the caller's business, as this crate does no IO.
//!
//! The parser is tolerant where the official registry is (byte order marks,
//! comments, odd casing of element names and `<Type>` text, missing optional
//! elements, executable resources that still declare a type, readable
//! resources without a type) and strict where a wrong model would silently
//! mis-decode device data: missing or malformed ids, the reserved id 65535,
//! duplicate resource ids, unknown `<Type>` or `<Operations>` values, and
//! unknown multiplicity or mandatory words. Every error names the source and
//! says which element of which object or resource is at fault.

use std::collections::BTreeMap;

use roxmltree::{Document, Node, ParsingOptions};

use super::{ObjectModel, Operations, ResourceModel};
use crate::node::ResourceType;
use crate::{Error, Version};

/// The largest DDF document accepted. The biggest object in the OMA registry
/// is about 35 KB; 1 MiB leaves room for vendors while bounding the memory a
/// hostile upload can claim.
pub const MAX_DDF_SIZE: usize = 1 << 20;

/// Bounds the XML tree built for one document (roxmltree counts every
/// element, text and comment).
const MAX_XML_NODES: u32 = 200_000;

/// Parses the DDF document `xml`; `source_name` (usually the file name) is
/// carried into every error.
///
/// A document may hold several `<Object>` definitions; all are returned in
/// document order.
pub fn parse(source_name: &str, xml: &str) -> Result<Vec<ObjectModel>, Error> {
    let fail = |reason: String| Error::Model {
        source_name: source_name.to_owned(),
        reason,
    };
    if xml.len() > MAX_DDF_SIZE {
        return Err(too_big(source_name, xml.len()));
    }
    let xml = xml.strip_prefix('\u{feff}').unwrap_or(xml);
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_XML_NODES,
        ..Default::default()
    };
    let doc = Document::parse_with_options(xml, options)
        .map_err(|e| fail(format!("not well-formed XML: {e}")))?;
    let root = doc.root_element();
    if !root.tag_name().name().eq_ignore_ascii_case("LWM2M") {
        return Err(fail(format!(
            "root element is <{}>, expected <LWM2M>: not an object definition",
            root.tag_name().name()
        )));
    }
    let objects: Vec<Node<'_, '_>> = elements(root, "Object").collect();
    if objects.is_empty() {
        return Err(fail("<LWM2M> holds no <Object>".to_owned()));
    }
    objects
        .into_iter()
        .map(|node| parse_object(&doc, node).map_err(&fail))
        .collect()
}

/// Like [`parse`], for raw file bytes: checks UTF-8 (a byte order mark is allowed).
pub fn parse_bytes(source_name: &str, xml: &[u8]) -> Result<Vec<ObjectModel>, Error> {
    if xml.len() > MAX_DDF_SIZE {
        return Err(too_big(source_name, xml.len()));
    }
    match std::str::from_utf8(xml) {
        Ok(text) => parse(source_name, text),
        Err(e) => Err(Error::Model {
            source_name: source_name.to_owned(),
            reason: format!("not UTF-8 text: {e}"),
        }),
    }
}

fn too_big(source_name: &str, len: usize) -> Error {
    Error::Model {
        source_name: source_name.to_owned(),
        reason: format!("document is {len} bytes, more than the {MAX_DDF_SIZE} bytes accepted"),
    }
}

fn parse_object(doc: &Document<'_>, node: Node<'_, '_>) -> Result<ObjectModel, String> {
    let at = |n: Node<'_, '_>| {
        let pos = doc.text_pos_at(n.range().start);
        format!("line {}", pos.row)
    };
    if let Some(kind) = node.attribute("ObjectType") {
        if !kind.trim().eq_ignore_ascii_case("MODefinition") {
            return Err(format!(
                "<Object> at {} has ObjectType={kind:?}, not an object definition (MODefinition)",
                at(node)
            ));
        }
    }
    let id_text = child_text(node, "ObjectID")
        .ok_or_else(|| format!("<Object> at {} has no <ObjectID>", at(node)))?;
    let id = parse_id(&id_text).map_err(|why| format!("<ObjectID> {id_text:?} {why}"))?;
    let ctx = format!("object {id}");
    let name = child_text(node, "Name").ok_or_else(|| format!("{ctx}: missing <Name>"))?;
    let version = version_of(node, "ObjectVersion", &ctx)?;
    let lwm2m_version = version_of(node, "LWM2MVersion", &ctx)?;
    let multiple = multiplicity(node, &ctx)?;
    let mandatory = mandatory(node, &ctx)?;
    let urn = child_text(node, "ObjectURN").filter(|u| !u.is_empty());

    let mut resources = BTreeMap::new();
    if let Some(list) = first_element(node, "Resources") {
        for item in elements(list, "Item") {
            let resource = parse_item(item, &ctx)?;
            if resources.contains_key(&resource.id) {
                return Err(format!(
                    "{ctx}: resource id {} is defined twice (at {})",
                    resource.id,
                    at(item)
                ));
            }
            resources.insert(resource.id, resource);
        }
    }
    Ok(ObjectModel {
        id,
        name,
        description: child_text(node, "Description1").unwrap_or_default(),
        version,
        lwm2m_version,
        multiple,
        mandatory,
        urn,
        resources,
    })
}

fn parse_item(item: Node<'_, '_>, object_ctx: &str) -> Result<ResourceModel, String> {
    let id_text = item
        .attribute("ID")
        .or_else(|| item.attribute("Id"))
        .or_else(|| item.attribute("id"))
        .ok_or_else(|| format!("{object_ctx}: an <Item> has no ID attribute"))?;
    let id =
        parse_id(id_text).map_err(|why| format!("{object_ctx}: <Item ID={id_text:?}> {why}"))?;
    let ctx = format!("{object_ctx}, resource {id}");
    let name = child_text(item, "Name").ok_or_else(|| format!("{ctx}: missing <Name>"))?;
    let ops_text = child_text(item, "Operations").unwrap_or_default();
    let operations = Operations::from_ddf(&ops_text).ok_or_else(|| {
        format!("{ctx}: unknown <Operations> {ops_text:?} (expected R, W, RW, E or empty)")
    })?;
    let type_text = child_text(item, "Type").unwrap_or_default();
    let kind = ResourceType::from_ddf(&type_text).ok_or_else(|| {
        format!(
            "{ctx}: unknown <Type> {type_text:?} (expected String, Integer, Unsigned Integer, \
             Float, Boolean, Opaque, Time, Objlnk, Corelnk or empty)"
        )
    })?;
    let optional_text = |tag: &str| child_text(item, tag).filter(|t| !t.is_empty());
    Ok(ResourceModel {
        id,
        name,
        operations,
        multiple: multiplicity(item, &ctx)?,
        mandatory: mandatory(item, &ctx)?,
        kind,
        range: optional_text("RangeEnumeration"),
        units: optional_text("Units"),
        description: child_text(item, "Description").unwrap_or_default(),
    })
}

/// An object or resource id: decimal, below the reserved 65535.
fn parse_id(text: &str) -> Result<u16, &'static str> {
    let t = text.trim();
    if t.is_empty() || t.len() > 5 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err("is not a decimal id");
    }
    match t.parse::<u16>() {
        Ok(u16::MAX) => Err("is 65535, which the specification reserves"),
        Ok(id) => Ok(id),
        Err(_) => Err("is above 65534"),
    }
}

/// `<ObjectVersion>` / `<LWM2MVersion>`: 1.0 when absent or empty.
fn version_of(node: Node<'_, '_>, tag: &str, ctx: &str) -> Result<Version, String> {
    match child_text(node, tag) {
        None => Ok(Version::V1_0),
        Some(t) if t.is_empty() => Ok(Version::V1_0),
        Some(t) => t
            .parse()
            .map_err(|_| format!("{ctx}: <{tag}> {t:?} is not MAJOR.MINOR")),
    }
}

fn multiplicity(node: Node<'_, '_>, ctx: &str) -> Result<bool, String> {
    let text = child_text(node, "MultipleInstances")
        .ok_or_else(|| format!("{ctx}: missing <MultipleInstances>"))?;
    match text.to_ascii_lowercase().as_str() {
        "multiple" => Ok(true),
        "single" => Ok(false),
        _ => Err(format!(
            "{ctx}: <MultipleInstances> {text:?} is neither Multiple nor Single"
        )),
    }
}

fn mandatory(node: Node<'_, '_>, ctx: &str) -> Result<bool, String> {
    let text =
        child_text(node, "Mandatory").ok_or_else(|| format!("{ctx}: missing <Mandatory>"))?;
    match text.to_ascii_lowercase().as_str() {
        "mandatory" => Ok(true),
        "optional" => Ok(false),
        _ => Err(format!(
            "{ctx}: <Mandatory> {text:?} is neither Mandatory nor Optional"
        )),
    }
}

/// Child elements named `tag`, compared without regard to ASCII case.
fn elements<'a, 'i>(node: Node<'a, 'i>, tag: &'static str) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children()
        .filter(move |c| c.is_element() && c.tag_name().name().eq_ignore_ascii_case(tag))
}

fn first_element<'a, 'i>(node: Node<'a, 'i>, tag: &str) -> Option<Node<'a, 'i>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name().eq_ignore_ascii_case(tag))
}

/// The trimmed text of the first child element `tag` (text and CDATA pieces
/// joined, comments skipped); `None` when there is no such element.
fn child_text(node: Node<'_, '_>, tag: &str) -> Option<String> {
    let element = first_element(node, tag)?;
    let text: String = element
        .children()
        .filter(Node::is_text)
        .filter_map(|t| t.text())
        .collect();
    Some(text.trim().to_owned())
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // a failed index is a failed test
mod tests {
    use super::*;

    fn doc(object_body: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LWM2M>\n<Object ObjectType=\"MODefinition\">\n{object_body}\n</Object>\n</LWM2M>"
        )
    }

    const HEADER: &str = "<Name>Test</Name><Description1>d</Description1><ObjectID>3442</ObjectID>\
        <ObjectURN>urn:oma:lwm2m:x:3442</ObjectURN><MultipleInstances>Multiple</MultipleInstances>\
        <Mandatory>Optional</Mandatory>";

    fn item(id: &str, ops: &str, ty: &str) -> String {
        format!(
            "<Item ID=\"{id}\"><Name>r{id}</Name><Operations>{ops}</Operations>\
             <MultipleInstances>Single</MultipleInstances><Mandatory>Mandatory</Mandatory>\
             <Type>{ty}</Type><RangeEnumeration></RangeEnumeration><Units>s</Units>\
             <Description>x</Description></Item>"
        )
    }

    fn with_items(items: &[String]) -> String {
        doc(&format!(
            "{HEADER}<Resources>{}</Resources>",
            items.concat()
        ))
    }

    fn reason(result: Result<Vec<ObjectModel>, Error>) -> (String, String) {
        match result {
            Err(Error::Model {
                source_name,
                reason,
            }) => (source_name, reason),
            other => panic!("expected a model error, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_minimal_object_with_defaults() {
        let xml = with_items(&[item("0", "R", "String"), item("1", "E", "")]);
        let models = parse("t.xml", &xml).unwrap();
        assert_eq!(models.len(), 1);
        let m = &models[0];
        assert_eq!(
            (m.id, m.name.as_str(), m.multiple, m.mandatory),
            (3442, "Test", true, false)
        );
        assert_eq!(
            m.version,
            Version::V1_0,
            "absent ObjectVersion defaults to 1.0"
        );
        assert_eq!(
            m.lwm2m_version,
            Version::V1_0,
            "absent LWM2MVersion defaults to 1.0"
        );
        assert_eq!(m.urn.as_deref(), Some("urn:oma:lwm2m:x:3442"));
        let r0 = &m.resources[&0];
        assert_eq!(
            (r0.operations, r0.kind, r0.mandatory, r0.multiple),
            (Operations::Read, ResourceType::String, true, false)
        );
        assert_eq!(r0.units.as_deref(), Some("s"));
        assert_eq!(r0.range, None, "empty RangeEnumeration is no range");
        assert_eq!(m.resources[&1].kind, ResourceType::None);
    }

    #[test]
    fn tolerates_bom_comments_casing_and_whitespace() {
        let xml = format!(
            "\u{feff}<?xml version=\"1.0\"?><!-- c --><LWM2M><Object ObjectType=\"MODefinition\">\
             <Name> T </Name><ObjectID>\n 42 <!-- id --> </ObjectID><ObjectVersion>1.1</ObjectVersion>\
             <LWM2MVersion></LWM2MVersion><multipleinstances>single</multipleinstances><Mandatory>MANDATORY</Mandatory>\
             <Resources>{}</Resources></Object></LWM2M>",
            item("7", " RW ", "unsigned integer")
        );
        let m = &parse("odd.xml", &xml).unwrap()[0];
        assert_eq!(
            (m.id, m.name.as_str(), m.version, m.lwm2m_version),
            (42, "T", Version::V1_1, Version::V1_0)
        );
        assert!(!m.multiple && m.mandatory);
        assert_eq!(m.resources[&7].kind, ResourceType::UnsignedInteger);
        assert_eq!(m.resources[&7].operations, Operations::ReadWrite);
    }

    #[test]
    fn several_objects_in_one_document() {
        let one = format!("<Object><Name>A</Name><ObjectID>1000</ObjectID><MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory><Resources>{}</Resources></Object>", item("0", "R", "Float"));
        let two = "<Object><Name>B</Name><ObjectID>1001</ObjectID><MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory></Object>";
        let models = parse("two.xml", &format!("<LWM2M>{one}{two}</LWM2M>")).unwrap();
        assert_eq!(
            models.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![1000, 1001]
        );
        assert!(models[1].resources.is_empty(), "<Resources> is optional");
    }

    #[test]
    fn tolerates_executable_with_type_and_readable_without() {
        // As in the registry's 10260-1_0.xml (resource 3) and 10482-1_0.xml (resource 5).
        let xml = with_items(&[item("3", "E", "String"), item("5", "R", "")]);
        let m = &parse("t.xml", &xml).unwrap()[0];
        assert_eq!(m.resources[&3].kind, ResourceType::String);
        assert_eq!(m.resources[&5].kind, ResourceType::None);
    }

    #[test]
    fn truncated_document_names_file() {
        let xml = with_items(&[item("0", "R", "String")]);
        let (file, why) = reason(parse("cut.xml", &xml[..xml.len() / 2]));
        assert_eq!(file, "cut.xml");
        assert!(why.contains("not well-formed XML"), "{why}");
    }

    #[test]
    fn wrong_root_is_not_an_object_definition() {
        let (file, why) = reason(parse("DDF.xml", "<DDFList><Item/></DDFList>"));
        assert_eq!(file, "DDF.xml");
        assert!(
            why.contains("<DDFList>") && why.contains("expected <LWM2M>"),
            "{why}"
        );
        let (_, why) = reason(parse(
            "Common.xml",
            "<LWM2M><Object ObjectType=\"CommonResources\"/></LWM2M>",
        ));
        assert!(why.contains("CommonResources"), "{why}");
        let (_, why) = reason(parse("e.xml", "<LWM2M/>"));
        assert!(why.contains("no <Object>"), "{why}");
    }

    #[test]
    fn duplicate_resource_ids_are_rejected() {
        let xml = with_items(&[item("4", "R", "String"), item("4", "W", "Integer")]);
        let (file, why) = reason(parse("dup.xml", &xml));
        assert_eq!(file, "dup.xml");
        assert!(
            why.contains("object 3442") && why.contains("resource id 4 is defined twice"),
            "{why}"
        );
    }

    #[test]
    fn unknown_type_and_operations_are_rejected() {
        let (_, why) = reason(parse("t.xml", &with_items(&[item("2", "R", "Strin")])));
        assert!(
            why.contains("resource 2") && why.contains("unknown <Type> \"Strin\""),
            "{why}"
        );
        let (_, why) = reason(parse("t.xml", &with_items(&[item("2", "RWX", "String")])));
        assert!(
            why.contains("resource 2") && why.contains("unknown <Operations> \"RWX\""),
            "{why}"
        );
    }

    #[test]
    fn bad_ids_are_rejected() {
        for (bad, expect) in [
            ("65535", "reserves"),
            ("70000", "above 65534"),
            ("x1", "not a decimal id"),
            ("", "not a decimal id"),
            ("-1", "not a decimal id"),
        ] {
            let xml = doc(&HEADER.replace(
                "<ObjectID>3442</ObjectID>",
                &format!("<ObjectID>{bad}</ObjectID>"),
            ));
            let (_, why) = reason(parse("t.xml", &xml));
            assert!(
                why.contains("<ObjectID>") && why.contains(expect),
                "{bad}: {why}"
            );
            let (_, why) = reason(parse("t.xml", &with_items(&[item(bad, "R", "String")])));
            assert!(
                why.contains("<Item ID=") && why.contains(expect),
                "{bad}: {why}"
            );
        }
        let xml = doc(&HEADER.replace("<ObjectID>3442</ObjectID>", ""));
        let (_, why) = reason(parse("t.xml", &xml));
        assert!(why.contains("has no <ObjectID>"), "{why}");
    }

    #[test]
    fn bad_words_and_versions_are_rejected() {
        let xml = doc(&HEADER.replace("Multiple</MultipleInstances>", "Many</MultipleInstances>"));
        assert!(reason(parse("t.xml", &xml))
            .1
            .contains("<MultipleInstances> \"Many\""));
        let xml = doc(&HEADER.replace("Optional</Mandatory>", "Maybe</Mandatory>"));
        assert!(reason(parse("t.xml", &xml))
            .1
            .contains("<Mandatory> \"Maybe\""));
        let xml = doc(&format!("{HEADER}<ObjectVersion>v2</ObjectVersion>"));
        assert!(reason(parse("t.xml", &xml))
            .1
            .contains("<ObjectVersion> \"v2\""));
    }

    #[test]
    fn oversized_and_non_utf8_input_is_rejected() {
        let big = " ".repeat(MAX_DDF_SIZE + 1);
        assert!(reason(parse("big.xml", &big)).1.contains("more than"));
        assert!(reason(parse_bytes("big.xml", big.as_bytes()))
            .1
            .contains("more than"));
        assert!(reason(parse_bytes("bin.xml", &[0x3c, 0xff, 0xfe]))
            .1
            .contains("not UTF-8"));
    }

    #[test]
    fn dtd_entities_are_refused() {
        let xml = "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaa\">]><LWM2M>&a;</LWM2M>";
        assert!(reason(parse("dtd.xml", xml))
            .1
            .contains("not well-formed XML"));
    }
}
