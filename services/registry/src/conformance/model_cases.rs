//! Object models: the whole OMA registry, atomic uploads, tenant
//! overrides, listings, and announced objects without models.

use std::sync::Arc;
use std::time::Instant;

use lwm2m_core::Version;

use super::fixtures::{ddf, oma_registry_files, tenant};
use super::{open, Harness};
use crate::error::Error;
use crate::ids::Scope;
use crate::models::import::DdfFile;
use crate::models::{ModelFilter, ModelKey, ModelView};

/// Files and distinct models of the OMA registry copy when this was
/// written: 751 object definitions (327 top-level files repeat the newest
/// entry of `version_history/`) plus 3 files that are not definitions.
const OMA_DEFINITION_FILES: usize = 751;
const OMA_DISTINCT_MODELS: usize = 424;
const OMA_NON_DEFINITIONS: [&str; 3] = ["Common.xml", "DDF.xml", "LWM2M_senml_units.xml"];

fn key(id: u16, version: Version) -> ModelKey {
    ModelKey {
        object_id: id,
        version,
    }
}

async fn all_visible(
    reg: &crate::service::Registry,
    filter: &ModelFilter,
) -> Vec<crate::models::ModelRecord> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = reg.list_models(filter, &token, 1000).await.unwrap();
        out.extend(page.items);
        if page.next_page_token.is_empty() {
            return out;
        }
        token = page.next_page_token;
    }
}

pub async fn whole_oma_registry_imports(h: Arc<dyn Harness>) {
    let reg = open(&*h).await;
    let files = oma_registry_files();
    assert_eq!(
        files.len(),
        OMA_DEFINITION_FILES + OMA_NON_DEFINITIONS.len()
    );
    let bytes: usize = files.iter().map(|f| f.content.len()).sum();
    let started = Instant::now();
    let parsed = crate::models::import::parse_upload(&files, true).unwrap();
    println!(
        "MEASUREMENT: parsing the OMA registry alone took {:?} ({} models)",
        started.elapsed(),
        parsed.models.len()
    );

    let started = Instant::now();
    let report = reg
        .import_models(Scope::System, files.clone(), true)
        .await
        .unwrap();
    let first = started.elapsed();
    // A measurement for the record, not an assertion: speed depends on the machine.
    println!(
        "MEASUREMENT: imported the OMA registry ({} files, {:.1} MB, {} models) into {} in {:?}",
        files.len(),
        bytes as f64 / 1e6,
        report.models.len(),
        h.database_url().split(':').next().unwrap_or_default(),
        first
    );

    assert_eq!(report.models.len(), OMA_DISTINCT_MODELS);
    assert_eq!(
        report.superseded_in_upload,
        OMA_DEFINITION_FILES - OMA_DISTINCT_MODELS
    );
    let skipped: Vec<&str> = report.skipped.iter().map(|s| s.file.as_str()).collect();
    assert_eq!(skipped, OMA_NON_DEFINITIONS);
    // The built-in core objects were seeded at start; the registry's files replace them.
    let replaced: Vec<u16> = report
        .models
        .iter()
        .filter(|m| m.replaced)
        .map(|m| m.key.object_id)
        .collect();
    assert_eq!(replaced, [0, 1, 2, 3, 4, 5, 6, 7, 9, 19]);

    let listed = all_visible(&reg, &ModelFilter::default()).await;
    assert_eq!(listed.len(), OMA_DISTINCT_MODELS);
    let device = reg.get_model(None, 3, Some(Version::V1_2)).await.unwrap();
    assert_eq!(device.model.name, "Device");
    assert_eq!(device.source_name, "version_history/3-1_2.xml");
    assert!(device.ddf_xml.unwrap().contains("<ObjectID>3</ObjectID>"));
    assert_eq!(
        reg.get_model(None, 3, None).await.unwrap().model.version,
        Version::V1_2
    );

    // Importing again replaces every model and adds none.
    let started = Instant::now();
    let again = reg.import_models(Scope::System, files, true).await.unwrap();
    println!(
        "MEASUREMENT: re-import (all replaced) took {:?}",
        started.elapsed()
    );
    assert!(again.models.iter().all(|m| m.replaced));
    assert_eq!(
        all_visible(&reg, &ModelFilter::default()).await.len(),
        OMA_DISTINCT_MODELS
    );
}

pub async fn broken_upload_imports_nothing(h: Arc<dyn Harness>) {
    let reg = open(&*h).await;
    let good = ddf(40100, "1.0", "Good", &[(0, "Value", "R", "Integer")]);
    let broken = DdfFile {
        name: "vendor/broken.xml".into(),
        content: b"<LWM2M><Object><Name>Broken</Name>".to_vec(),
    };
    let bad_type = DdfFile {
        name: "bad-type.xml".into(),
        content: ddf(40101, "1.0", "Bad", &[(0, "Value", "R", "Decimal")]).content,
    };
    let err = reg
        .import_models(Scope::System, vec![good.clone(), broken, bad_type], false)
        .await
        .unwrap_err();
    let Error::InvalidModels(faults) = &err else {
        panic!("{err}")
    };
    assert_eq!(faults.len(), 2, "{err}");
    assert_eq!(faults[0].file, "vendor/broken.xml");
    assert!(faults[0].reason.contains("XML"), "{err}");
    assert_eq!(faults[1].file, "bad-type.xml");
    assert!(faults[1].reason.contains("Decimal"), "{err}");
    assert!(matches!(
        reg.get_model(None, 40100, None).await,
        Err(Error::NotFound { .. })
    ));

    // A non-definition is an error unless skipping was asked for.
    let index = DdfFile {
        name: "DDF.xml".into(),
        content: b"<DDFList></DDFList>".to_vec(),
    };
    assert!(reg
        .import_models(Scope::System, vec![index.clone()], false)
        .await
        .is_err());
    assert!(matches!(
        reg.get_model(None, 40100, None).await,
        Err(Error::NotFound { .. })
    ));
    let report = reg
        .import_models(Scope::System, vec![good, index], true)
        .await
        .unwrap();
    assert_eq!(report.models.len(), 1);
    assert_eq!(report.skipped[0].file, "DDF.xml");

    // An unknown tenant scope is refused before anything is parsed.
    let ghost = Scope::Tenant(super::fixtures::tenant_id("ghost"));
    let files = vec![ddf(40102, "1.0", "X", &[])];
    assert!(matches!(
        reg.import_models(ghost, files, false).await,
        Err(Error::NotFound { .. })
    ));
}

pub async fn tenant_overrides_and_deletion_rules(h: Arc<dyn Harness>) {
    let reg = open(&*h).await;
    let acme = tenant(&reg, "acme").await;
    let other = tenant(&reg, "other").await;
    let system_file = ddf(40200, "1.0", "Meter", &[(0, "Value", "R", "Integer")]);
    let acme_file = ddf(40200, "1.0", "Acme Meter", &[(0, "Value", "R", "Float")]);
    reg.import_models(Scope::System, vec![system_file], false)
        .await
        .unwrap();
    let acme_scope = Scope::Tenant(acme.clone());
    let report = reg
        .import_models(acme_scope.clone(), vec![acme_file], false)
        .await
        .unwrap();
    assert!(
        !report.models[0].replaced,
        "an override is a new row, not a replacement"
    );

    let seen_by = |t| reg.get_model(t, 40200, Some(Version::V1_0));
    assert_eq!(seen_by(Some(&acme)).await.unwrap().model.name, "Acme Meter");
    assert_eq!(seen_by(Some(&acme)).await.unwrap().scope, acme_scope);
    assert_eq!(seen_by(Some(&other)).await.unwrap().model.name, "Meter");
    assert_eq!(seen_by(None).await.unwrap().model.name, "Meter");
    let visible = reg
        .list_models(
            &ModelFilter {
                tenant: Some(acme.clone()),
                object_id: Some(40200),
                ..ModelFilter::default()
            },
            "",
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        visible.items.len(),
        1,
        "the override hides the system model"
    );

    // A model in use by a profile stays.
    let k = key(40200, Version::V1_0);
    let profile = reg
        .create_profile(
            other.clone(),
            "meters".into(),
            String::new(),
            crate::profile::ProfileConfig {
                objects: vec![crate::profile::ProfileObject {
                    object_id: 40200,
                    version: Version::V1_0,
                    resources: vec![],
                    attributes: vec![],
                }],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let in_use = reg.delete_model(&Scope::System, k).await.unwrap_err();
    assert!(matches!(in_use, Error::FailedPrecondition(_)), "{in_use}");
    assert!(in_use.to_string().contains("meters"), "{in_use}");
    reg.delete_profile(&profile.id).await.unwrap();

    // The tenant deletes its override, then cannot delete the system model.
    reg.delete_model(&acme_scope, k).await.unwrap();
    assert_eq!(seen_by(Some(&acme)).await.unwrap().model.name, "Meter");
    let err = reg.delete_model(&acme_scope, k).await.unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err}");
    assert!(err.to_string().contains("system model"), "{err}");
    reg.delete_model(&Scope::System, k).await.unwrap();
    assert!(matches!(
        reg.delete_model(&Scope::System, k).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        seen_by(Some(&acme)).await,
        Err(Error::NotFound { .. })
    ));
}

pub async fn model_listing_filters_and_pages(h: Arc<dyn Harness>) {
    let reg = open(&*h).await;
    let acme = tenant(&reg, "acme").await;
    let files = vec![
        ddf(40300, "1.0", "Water Meter", &[]),
        ddf(40300, "1.1", "Water Meter", &[]),
        ddf(40301, "1.0", "Gas_Meter 100%", &[]),
        ddf(40302, "2.0", "Valve", &[]),
    ];
    reg.import_models(Scope::System, files, false)
        .await
        .unwrap();
    reg.import_models(
        Scope::Tenant(acme.clone()),
        vec![ddf(40303, "1.0", "Acme Water Sensor", &[])],
        false,
    )
    .await
    .unwrap();
    let names = |page: &crate::service::Page<crate::models::ModelRecord>| {
        page.items
            .iter()
            .map(|m| format!("{}_{}", m.model.id, m.model.version))
            .collect::<Vec<_>>()
    };
    let list = |filter: ModelFilter| {
        let reg = reg.clone();
        async move { reg.list_models(&filter, "", 100).await.unwrap() }
    };
    let water = list(ModelFilter {
        name_contains: Some("WATER".into()),
        ..ModelFilter::default()
    })
    .await;
    assert_eq!(names(&water), ["40300_1.0", "40300_1.1"]);
    let water_acme = list(ModelFilter {
        tenant: Some(acme.clone()),
        name_contains: Some("water".into()),
        ..ModelFilter::default()
    })
    .await;
    assert_eq!(names(&water_acme), ["40300_1.0", "40300_1.1", "40303_1.0"]);
    let tenant_only = list(ModelFilter {
        tenant: Some(acme.clone()),
        view: ModelView::TenantOnly,
        ..ModelFilter::default()
    })
    .await;
    assert_eq!(names(&tenant_only), ["40303_1.0"]);
    let system_only = list(ModelFilter {
        tenant: Some(acme.clone()),
        view: ModelView::SystemOnly,
        name_contains: Some("water".into()),
        ..ModelFilter::default()
    })
    .await;
    assert_eq!(names(&system_only), ["40300_1.0", "40300_1.1"]);
    // `%` and `_` in the needle are literal characters, not wildcards.
    let literal = list(ModelFilter {
        name_contains: Some("_meter 100%".into()),
        ..ModelFilter::default()
    })
    .await;
    assert_eq!(names(&literal), ["40301_1.0"]);
    let wildcard = list(ModelFilter {
        name_contains: Some("%".into()),
        ..ModelFilter::default()
    })
    .await;
    assert_eq!(names(&wildcard), ["40301_1.0"]);
    let by_version = list(ModelFilter {
        object_id: Some(40300),
        version: Some(Version::V1_1),
        ..ModelFilter::default()
    })
    .await;
    assert_eq!(names(&by_version), ["40300_1.1"]);

    // Pages of two walk every visible model once, in (id, version) order.
    let mut seen = Vec::new();
    let mut token = String::new();
    let filter = ModelFilter {
        tenant: Some(acme),
        ..ModelFilter::default()
    };
    loop {
        let page = reg.list_models(&filter, &token, 2).await.unwrap();
        seen.extend(names(&page));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut sorted = seen.clone();
    sorted.dedup();
    assert_eq!(seen.len(), sorted.len(), "no model twice: {seen:?}");
    assert!(seen.ends_with(&[
        "40300_1.0".into(),
        "40300_1.1".into(),
        "40301_1.0".into(),
        "40302_2.0".into(),
        "40303_1.0".into()
    ]));
    assert_eq!(
        seen.len(),
        10 + 5,
        "built-in core objects + the uploads: {seen:?}"
    );
}

pub async fn announced_objects_without_models_are_recorded(h: Arc<dyn Harness>) {
    let reg = open(&*h).await;
    let acme = tenant(&reg, "acme").await;
    let announced = [
        key(3, Version::V1_1),
        key(40400, Version::V1_0),
        key(3, Version::new(1, 9)),
    ];
    let unknown = reg
        .record_announced_objects(&acme, "dev-1", &announced)
        .await
        .unwrap();
    assert_eq!(
        unknown,
        [key(3, Version::new(1, 9)), key(40400, Version::V1_0)]
    );
    reg.record_announced_objects(&acme, "dev-2", &announced[1..2])
        .await
        .unwrap();
    let listed = reg.list_unknown_objects(&acme).await.unwrap();
    assert_eq!(listed.len(), 2);
    let sensor = listed.iter().find(|u| u.key.object_id == 40400).unwrap();
    assert_eq!(
        (sensor.seen_count, sensor.last_endpoint.as_str()),
        (2, "dev-2")
    );
    assert!(sensor.first_seen_ms <= sensor.last_seen_ms);

    // Once a model exists (here: the tenant's own), it is no longer unknown.
    reg.import_models(
        Scope::Tenant(acme.clone()),
        vec![ddf(40400, "1.0", "Sensor", &[])],
        false,
    )
    .await
    .unwrap();
    let listed = reg.list_unknown_objects(&acme).await.unwrap();
    assert_eq!(
        listed.iter().map(|u| u.key).collect::<Vec<_>>(),
        [key(3, Version::new(1, 9))]
    );
    let ghost = super::fixtures::tenant_id("ghost");
    assert!(matches!(
        reg.record_announced_objects(&ghost, "x", &announced).await,
        Err(Error::NotFound { .. })
    ));
}
