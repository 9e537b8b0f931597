//! Object model operations: imports, listings, the tenant's view, deletion
//! rules, and the objects devices announced without a model.

use lwm2m_core::{ModelRegistry, Version};

use super::{Page, Registry, DEFAULT_PAGE, MAX_PAGE};
use crate::change_feed::event;
use crate::clock::now_ms;
use crate::cursor;
use crate::error::Error;
use crate::ids::{Scope, TenantId};
use crate::models::import::{parse_upload, DdfFile, SkippedFile};
use crate::models::{ModelFilter, ModelKey, ModelRecord, NewModel, UnknownObject};
use crate::store::Result;

/// What an import stored.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportedModel {
    pub key: ModelKey,
    pub name: String,
    pub source_name: String,
    /// A model of the same scope was replaced.
    pub replaced: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportReport {
    pub models: Vec<ImportedModel>,
    pub skipped: Vec<SkippedFile>,
    pub superseded_in_upload: usize,
}

/// Source name of the built-in core object models.
pub const BUILTIN_SOURCE: &str = "builtin";

impl Registry {
    /// Parses every file, then stores all models in one transaction (see
    /// [`parse_upload`] for what is rejected).
    pub async fn import_models(
        &self,
        scope: Scope,
        files: Vec<DdfFile>,
        skip_non_definitions: bool,
    ) -> Result<ImportReport> {
        let size: usize = files.iter().map(|f| f.content.len()).sum();
        if size > self.limits.max_model_upload_bytes {
            return Err(Error::TooLarge {
                what: "the model upload",
                size,
                limit: self.limits.max_model_upload_bytes,
            });
        }
        if let Some(tenant) = scope.tenant() {
            self.get_tenant(tenant).await?;
        }
        // Hundreds of XML documents are CPU work: keep it off the executor.
        let parsed =
            tokio::task::spawn_blocking(move || parse_upload(&files, skip_non_definitions))
                .await
                .map_err(|e| Error::Config(format!("model parser task failed: {e}")))??;
        let outcomes = self
            .store
            .put_models(&scope, &parsed.models, now_ms())
            .await?;
        let keys: Vec<ModelKey> = outcomes.iter().map(|o| o.key).collect();
        self.publish(event::models_changed(&scope, &keys)).await;
        let models = parsed
            .models
            .iter()
            .zip(&outcomes)
            .map(|(m, o)| ImportedModel {
                key: o.key,
                name: m.model.name.clone(),
                source_name: m.source_name.clone(),
                replaced: o.replaced,
            })
            .collect();
        Ok(ImportReport {
            models,
            skipped: parsed.skipped,
            superseded_in_upload: parsed.superseded.len(),
        })
    }

    /// Stores the built-in core objects (0-7, 9, 19) as system models where
    /// the system scope has none of that version, so a fresh registry can
    /// validate profiles for the usual objects. Returns how many were added.
    pub async fn seed_builtin_models(&self) -> Result<usize> {
        let models: Vec<NewModel> = lwm2m_core::model::builtin::core_objects()
            .into_iter()
            .map(|model| NewModel {
                model,
                source_name: BUILTIN_SOURCE.to_owned(),
                ddf_xml: String::new(),
            })
            .collect();
        self.store
            .insert_missing_models(&Scope::System, &models, now_ms())
            .await
    }

    pub async fn list_models(
        &self,
        filter: &ModelFilter,
        page_token: &str,
        page_size: u32,
    ) -> Result<Page<ModelRecord>> {
        if let Some(t) = &filter.tenant {
            self.get_tenant(t).await?;
        }
        let limit = cursor::page_size(page_size, DEFAULT_PAGE, MAX_PAGE);
        let after = if page_token.is_empty() {
            None
        } else {
            let parts = cursor::decode(page_token, 2)?;
            let bad = || Error::invalid("page_token", "not a token returned by this call");
            Some(ModelKey {
                object_id: parts[0].parse().map_err(|_| bad())?,
                version: parts[1].parse().map_err(|_| bad())?,
            })
        };
        let items = self.store.list_models(filter, after, limit + 1).await?;
        Ok(Page::from_overfetch(items, limit, |m| {
            cursor::encode(&[&m.model.id.to_string(), &m.model.version.to_string()])
        }))
    }

    /// The model `tenant` sees, with its DDF XML; `version: None` is the newest.
    pub async fn get_model(
        &self,
        tenant: Option<&TenantId>,
        object_id: u16,
        version: Option<Version>,
    ) -> Result<ModelRecord> {
        self.store
            .visible_model(tenant, object_id, version)
            .await?
            .ok_or_else(|| {
                let v = version.map(|v| format!(" version {v}")).unwrap_or_default();
                Error::not_found(format!("object model {object_id}{v}"))
            })
    }

    /// A tenant deletes its own models; only the system operator
    /// (`Scope::System`) deletes system models.
    /// Refused while a device profile uses the model (conservatively: for a
    /// system model, any tenant's profile naming that object version).
    pub async fn delete_model(&self, caller: &Scope, key: ModelKey) -> Result<()> {
        if let Some(profile) = self.profile_using(caller.tenant(), key).await? {
            return Err(Error::FailedPrecondition(format!(
                "object model {key} is used by device profile {:?} ({}): change the profile first",
                profile.name, profile.id
            )));
        }
        if self.store.delete_model(caller, key).await? {
            self.publish(event::models_deleted(caller, &[key])).await;
            return Ok(());
        }
        let is_system = self.store.get_model(&Scope::System, key).await?.is_some();
        match caller {
            Scope::Tenant(t) if is_system => Err(Error::PermissionDenied(format!(
                "object model {key} is a system model: tenant {:?} cannot delete it (a tenant may override it with its own version)",
                t.as_str()
            ))),
            _ => Err(Error::not_found(format!("object model {key} in the {caller} scope"))),
        }
    }

    /// A profile (of `tenant`, or of any tenant) that lists `key`.
    async fn profile_using(
        &self,
        tenant: Option<&TenantId>,
        key: ModelKey,
    ) -> Result<Option<crate::profile::DeviceProfile>> {
        let mut token = String::new();
        loop {
            let page = self.list_profiles(tenant, &token, 1000).await?;
            let found = page.items.into_iter().find(|p| {
                p.config
                    .objects
                    .iter()
                    .any(|o| o.object_id == key.object_id && o.version == key.version)
            });
            if found.is_some() || page.next_page_token.is_empty() {
                return Ok(found);
            }
            token = page.next_page_token;
        }
    }

    /// Records which announced objects have no model visible to `tenant`.
    pub async fn record_announced_objects(
        &self,
        tenant: &TenantId,
        endpoint: &str,
        announced: &[ModelKey],
    ) -> Result<Vec<ModelKey>> {
        self.get_tenant(tenant).await?;
        self.store
            .record_unknown_objects(tenant, endpoint, announced, now_ms())
            .await
    }

    pub async fn list_unknown_objects(&self, tenant: &TenantId) -> Result<Vec<UnknownObject>> {
        self.get_tenant(tenant).await?;
        self.store.list_unknown_objects(tenant).await
    }

    /// Every model `tenant` sees (`None`: the system models), for decoding.
    pub async fn model_registry(&self, tenant: Option<&TenantId>) -> Result<ModelRegistry> {
        self.models_of(tenant, &[]).await
    }

    /// The visible versions of `object_ids` (all objects if empty).
    pub(super) async fn models_of(
        &self,
        tenant: Option<&TenantId>,
        object_ids: &[u16],
    ) -> Result<ModelRegistry> {
        let mut registry = ModelRegistry::new();
        for model in self.store.visible_models(tenant, object_ids).await? {
            registry.insert(model);
        }
        Ok(registry)
    }
}
