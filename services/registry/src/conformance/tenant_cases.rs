//! Tenants: create, read, page, update, delete and what blocks deletion.

use std::sync::Arc;

use super::fixtures::{nosec, tenant, tenant_id};
use super::{open, Harness};
use crate::error::Error;
use crate::profile::ProfileConfig;

pub async fn tenant_lifecycle(h: Arc<dyn Harness>) {
    let reg = open(&*h).await;
    let acme = tenant(&reg, "acme").await;
    let again = reg.create_tenant(acme.clone(), "Again".into(), false).await;
    assert!(
        matches!(again, Err(Error::AlreadyExists { .. })),
        "{again:?}"
    );
    assert!(again.unwrap_err().to_string().contains("acme"));

    let blank = reg
        .create_tenant(tenant_id("blank"), " ".into(), false)
        .await;
    assert_eq!(blank.unwrap_err().field_errors()[0].field, "tenant.name");

    let profile = reg
        .create_profile(
            acme.clone(),
            "p".into(),
            String::new(),
            ProfileConfig::default(),
        )
        .await
        .unwrap();
    let updated = reg
        .update_tenant(&acme, "Acme Corp".into(), true, Some(profile.id.clone()))
        .await
        .unwrap();
    assert!(updated.auto_provision);
    let read = reg.get_tenant(&acme).await.unwrap();
    assert_eq!(read, updated);
    assert_eq!(read.auto_provision_profile_id, Some(profile.id.clone()));

    // Another tenant's profile cannot be the auto-provisioning one.
    let other = tenant(&reg, "other").await;
    let err = reg
        .update_tenant(&other, "Other".into(), true, Some(profile.id.clone()))
        .await
        .unwrap_err();
    assert_eq!(
        err.field_errors()[0].field,
        "tenant.auto_provision_profile_id"
    );

    // The auto-provisioning profile and a tenant with contents stay.
    let err = reg.delete_profile(&profile.id).await.unwrap_err();
    assert!(matches!(err, Error::FailedPrecondition(_)), "{err}");
    reg.create_device(nosec(&acme, "dev-1")).await.unwrap();
    let err = reg.delete_tenant(&acme).await.unwrap_err();
    assert!(matches!(err, Error::FailedPrecondition(_)), "{err}");

    reg.delete_tenant(&other).await.unwrap();
    assert!(matches!(
        reg.get_tenant(&other).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        reg.delete_tenant(&other).await,
        Err(Error::NotFound { .. })
    ));
}

pub async fn tenant_pages_cover_everything_once(h: Arc<dyn Harness>) {
    let reg = open(&*h).await;
    let mut ids: Vec<String> = (0..7).map(|i| format!("t-{i}")).collect();
    for id in &ids {
        tenant(&reg, id).await;
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = reg.list_tenants(&token, 3).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.into_iter().map(|t| t.id.to_string()));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    ids.sort();
    assert_eq!(seen, ids);
    assert!(reg.list_tenants("not-a-token", 3).await.is_err());
}

/// `RegistryLookup::auto_provision`: only tenants that enable it create
/// devices (NoSec, with their profile); a second call, as from a second
/// transport node racing the first, gets the same device.
pub async fn auto_provisioning_follows_the_tenant(h: Arc<dyn Harness>) {
    use crate::device::Credentials;
    use crate::lookup::RegistryLookup;

    let reg = open(&*h).await;
    let closed = tenant(&reg, "closed").await;
    assert_eq!(reg.auto_provision(&closed, "dev-a").await.unwrap(), None);
    assert_eq!(reg.lookup_endpoint("dev-a").await.unwrap(), None);
    assert_eq!(
        reg.auto_provision(&tenant_id("missing"), "dev-a")
            .await
            .unwrap(),
        None
    );

    let open_tenant = tenant(&reg, "open").await;
    let profile = reg
        .create_profile(
            open_tenant.clone(),
            "auto".into(),
            String::new(),
            ProfileConfig::default(),
        )
        .await
        .unwrap();
    reg.update_tenant(&open_tenant, "Open".into(), true, Some(profile.id.clone()))
        .await
        .unwrap();
    let record = reg
        .auto_provision(&open_tenant, "dev-a")
        .await
        .unwrap()
        .expect("provisioned");
    assert_eq!(record.tenant.id, open_tenant);
    assert_eq!(record.device.endpoint, "dev-a");
    assert_eq!(record.device.credentials, Credentials::NoSec);
    assert_eq!(record.device.profile_id, Some(profile.id.clone()));
    let again = reg
        .auto_provision(&open_tenant, "dev-a")
        .await
        .unwrap()
        .expect("still there");
    assert_eq!(again.device.id, record.device.id);
    let looked_up = reg.lookup_endpoint("dev-a").await.unwrap().expect("stored");
    assert_eq!(looked_up.device.id, record.device.id);
}
