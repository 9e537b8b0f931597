//! Runs a device's profile: after Register (the whole plan), and after a
//! profile change or an Update (only the difference: observations the
//! profile added are started, ones it dropped are cancelled).
//!
//! Every step is an ordinary downlink (`downlink::execute`), so it honours
//! queue mode, publishes its values (with key names) and logs its exchange
//! like any other; a failing step is logged and the next one still runs.

use std::collections::BTreeSet;
use std::sync::Arc;

use lwm2m_core::LwM2mPath;
use lwm2m_proto::events::v1::Direction;
use lwm2m_registry::profile::DeviceProfile;
use lwm2m_session::Registration;

use super::directory::Applied;
use super::plan::{self, InitPlan, KeyMap, ObserveStep};
use crate::downlink::{self, Target};
use crate::events::{self, Device};
use crate::node::Node;
use crate::operation::Operation;

/// How a step ended, for logs and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RunReport {
    pub sent: usize,
    pub failed: usize,
    pub cancelled: usize,
}

fn target(reg: &Registration) -> Target {
    Target {
        endpoint: reg.endpoint.clone(),
        tenant: reg.tenant.clone(),
    }
}

async fn log(node: &Node, reg: &Registration, message: String, error: Option<String>) {
    let payload = events::transport_log(Direction::Downlink, message, String::new(), 0, error);
    node.publish(vec![node.event(&Device::from(reg), payload)])
        .await;
}

async fn run_step(node: &Arc<Node>, reg: &Registration, op: Operation, report: &mut RunReport) {
    let name = op.name();
    report.sent += 1;
    match downlink::execute(node, &target(reg), op, None, false).await {
        Ok(result) if result.code.class() == 2 => {}
        Ok(result) => {
            report.failed += 1;
            tracing::debug!(endpoint = %reg.endpoint, op = name, code = %result.code, "profile step refused");
        }
        Err(e) => {
            report.failed += 1;
            log(
                node,
                reg,
                format!("profile {name} failed"),
                Some(e.to_string()),
            )
            .await;
        }
    }
}

fn observe_op(step: &ObserveStep) -> Operation {
    match step {
        ObserveStep::Single(path) => Operation::Observe {
            path: *path,
            content_format: None,
            attributes: Default::default(),
        },
        ObserveStep::Composite(paths) => Operation::ObserveComposite {
            paths: paths.clone(),
            content_format: None,
        },
    }
}

/// The paths of an observation step, as the session store records them.
fn step_paths(step: &ObserveStep) -> BTreeSet<String> {
    let paths: Vec<LwM2mPath> = match step {
        ObserveStep::Single(p) => vec![*p],
        ObserveStep::Composite(ps) => ps.clone(),
    };
    paths.iter().map(ToString::to_string).collect()
}

/// Logs the objects skipped for their version, as ThingsBoard does.
async fn log_skipped(node: &Node, reg: &Registration, plan: &InitPlan) {
    for m in &plan.skipped {
        log(
            node,
            reg,
            format!(
                "object {} skipped: registered with version {}, the profile expects version {}",
                m.object_id, m.announced, m.expected
            ),
            Some(format!(
                "Invalid object version. Required version: {}",
                m.expected
            )),
        )
        .await;
    }
}

fn remember(node: &Node, reg: &Registration, profile: &DeviceProfile) {
    if let Some(directory) = &node.directory {
        let applied = Applied {
            profile_id: profile.id.clone(),
            revision: profile.revision,
            keys: Arc::new(KeyMap::of(profile)),
        };
        directory.set_applied(&reg.endpoint, Some(applied));
    }
}

/// Everything the profile asks for a newly registered device.
pub(crate) async fn initialise(
    node: Arc<Node>,
    reg: Registration,
    profile: Option<Arc<DeviceProfile>>,
) -> RunReport {
    super::record_announced(&node, &reg).await;
    let Some(profile) = profile else {
        return RunReport::default();
    };
    let plan = plan::plan(&profile, &reg.objects);
    remember(&node, &reg, &profile);
    log_skipped(&node, &reg, &plan).await;
    let mut report = RunReport::default();
    for (path, attributes) in &plan.write_attributes {
        let op = Operation::WriteAttributes {
            path: *path,
            attributes: attributes.clone(),
        };
        run_step(&node, &reg, op, &mut report).await;
    }
    for path in &plan.reads {
        let op = Operation::Read {
            path: *path,
            content_format: None,
        };
        run_step(&node, &reg, op, &mut report).await;
    }
    for step in &plan.observes {
        run_step(&node, &reg, observe_op(step), &mut report).await;
    }
    report
}

/// Brings a live device in line with its (changed) profile: starts the
/// observations the plan has and the device lacks, cancels the ones the
/// plan no longer has, and refreshes the key names.
pub(crate) async fn resync(
    node: Arc<Node>,
    reg: Registration,
    profile: Arc<DeviceProfile>,
) -> RunReport {
    let plan = plan::plan(&profile, &reg.objects);
    remember(&node, &reg, &profile);
    let mut report = RunReport::default();
    let current = match node.sessions.observations(&reg.endpoint).await {
        Ok(current) => current,
        Err(e) => {
            log(
                &node,
                &reg,
                "profile resync failed".into(),
                Some(e.to_string()),
            )
            .await;
            report.failed += 1;
            return report;
        }
    };
    let current: Vec<(BTreeSet<String>, bool)> = current
        .into_iter()
        .filter(|o| o.registration_id == reg.registration_id)
        .map(|o| (o.paths.into_iter().collect(), o.composite))
        .collect();
    let wanted: Vec<(BTreeSet<String>, bool)> = plan
        .observes
        .iter()
        .map(|s| (step_paths(s), matches!(s, ObserveStep::Composite(_))))
        .collect();
    for (paths, composite) in &current {
        if wanted.contains(&(paths.clone(), *composite)) {
            continue;
        }
        let parsed: Vec<LwM2mPath> = paths.iter().filter_map(|p| p.parse().ok()).collect();
        let op = match (composite, parsed.as_slice()) {
            (false, [path]) => Operation::CancelObserve { path: *path },
            (true, _) => Operation::CancelObserveComposite { paths: parsed },
            _ => continue,
        };
        report.cancelled += 1;
        run_step(&node, &reg, op, &mut report).await;
    }
    for (step, key) in plan.observes.iter().zip(&wanted) {
        if !current.contains(key) {
            run_step(&node, &reg, observe_op(step), &mut report).await;
        }
    }
    report
}
