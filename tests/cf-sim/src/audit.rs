//! Audit events (`GET /v3/audit_events`): the rows CC's event repositories
//! write for what restager causes or watches. Each recorder names the
//! repository method it follows (cloud_controller_ng app/repositories/*).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::model::{Actor, Row};
use crate::world::World;

/// `actor` / `target` of an event: `{guid, type, name}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventParty {
    pub guid: String,
    pub kind: String,
    pub name: String,
}

/// One row of CC's `events` table.
pub(crate) struct AuditEvent {
    pub guid: String,
    pub kind: String,
    pub actor: Option<EventParty>,
    pub target: Option<EventParty>,
    pub data: Value,
    pub space_guid: Option<String>,
    pub org_guid: Option<String>,
    /// `timestamp` (shown as both `created_at` and `updated_at`).
    pub timestamp: DateTime<Utc>,
}

impl Row for AuditEvent {
    fn guid(&self) -> &str {
        &self.guid
    }
    /// Indexed by target (`actee`), which the `target_guids` filter reads.
    fn app_guid(&self) -> Option<&str> {
        self.target.as_ref().map(|t| t.guid.as_str())
    }
}

/// The event types the simulator records (app/repositories/event_types.rb).
pub(crate) mod types {
    pub const APP_PROCESS_CRASH: &str = "audit.app.process.crash";
    pub const APP_CRASH: &str = "app.crash";
    pub const APP_BUILD_CREATE: &str = "audit.app.build.create";
    pub const APP_DROPLET_CREATE: &str = "audit.app.droplet.create";
    pub const APP_DEPLOYMENT_CREATE: &str = "audit.app.deployment.create";
    pub const APP_DEPLOYMENT_CANCEL: &str = "audit.app.deployment.cancel";
    pub const APP_DEPLOYMENT_CONTINUE: &str = "audit.app.deployment.continue";
}

/// What Diego reports for one crash (cc_messages.AppCrashedRequest), as
/// AppCrashedController receives it.
pub(crate) struct Crash {
    pub process_guid: String,
    pub process_type: String,
    pub index: usize,
    pub crash_count: u32,
    pub at: DateTime<Utc>,
}

impl World {
    /// A guid for an event that does not draw from the seeded RNG, so
    /// recording events leaves every other guid as it was.
    fn event_guid(&self) -> String {
        uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("cf-sim/{}/event/{}", self.cfg.seed, self.events.len()).as_bytes(),
        )
        .to_string()
    }

    /// Insert an app-targeted event with the app's space and org
    /// (Event#denormalize_space_and_org_guids, app/models/runtime/event.rb).
    fn record_app_event(
        &mut self,
        kind: &str,
        actor: EventParty,
        app_guid: &str,
        data: Value,
        at: DateTime<Utc>,
    ) {
        let Some(app) = self.apps.get(app_guid) else {
            return;
        };
        let target = EventParty {
            guid: app.guid.clone(),
            kind: "app".to_owned(),
            name: app.name.clone(),
        };
        let space_guid = app.space_guid.clone();
        let org_guid = self.spaces.get(&space_guid).map(|s| s.org_guid.clone());
        let guid = self.event_guid();
        self.events.insert(AuditEvent {
            guid,
            kind: kind.to_owned(),
            actor: Some(actor),
            target: Some(target),
            data,
            space_guid: Some(space_guid),
            org_guid,
            timestamp: at,
        });
    }

    /// An app event a request made now, on behalf of `actor`.
    fn record_user_event(&mut self, kind: &str, actor: &Actor, app_guid: &str, data: Value) {
        self.record_app_event(kind, Self::user_party(actor), app_guid, data, Utc::now());
    }

    /// A user actor from UserAuditInfo: guid, `type: "user"`, name = the
    /// user's email ("" for a client_credentials token).
    fn user_party(actor: &Actor) -> EventParty {
        EventParty {
            guid: actor.guid.clone(),
            kind: "user".to_owned(),
            name: actor.email.clone(),
        }
    }

    /// BuildEventRepository.record_build_create
    /// (app/repositories/build_event_repository.rb).
    pub(crate) fn record_build_create(
        &mut self,
        build_guid: &str,
        package_guid: &str,
        app_guid: &str,
        actor: &Actor,
    ) {
        let data = json!({"build_guid": build_guid, "package_guid": package_guid});
        self.record_user_event(types::APP_BUILD_CREATE, actor, app_guid, data);
    }

    /// DropletEventRepository.record_create_by_staging
    /// (app/repositories/droplet_event_repository.rb), written by
    /// DropletCreate#find_or_create_buildpack_droplet when staging uploads it.
    pub(crate) fn record_droplet_create(
        &mut self,
        droplet_guid: &str,
        package_guid: &str,
        app_guid: &str,
        actor: &Actor,
    ) {
        let data = json!({"droplet_guid": droplet_guid, "package_guid": package_guid});
        self.record_user_event(types::APP_DROPLET_CREATE, actor, app_guid, data);
    }

    /// DeploymentEventRepository.record_create
    /// (app/repositories/deployment_event_repository.rb): `type` is
    /// "rollback" only for a revision rollback (never in the simulator),
    /// `request` the message's audit hash (the requested keys).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record_deployment_create(
        &mut self,
        deployment_guid: &str,
        droplet_guid: &str,
        revision_guid: Option<&str>,
        strategy: &str,
        request: Value,
        app_guid: &str,
        actor: &Actor,
    ) {
        let data = json!({
            "deployment_guid": deployment_guid,
            "droplet_guid": droplet_guid,
            "type": null,
            "revision_guid": revision_guid,
            "request": request,
            "strategy": strategy,
        });
        self.record_user_event(types::APP_DEPLOYMENT_CREATE, actor, app_guid, data);
    }

    /// DeploymentEventRepository.record_cancel / record_continue.
    pub(crate) fn record_deployment_action(
        &mut self,
        kind: &str,
        deployment_guid: &str,
        droplet_guid: &str,
        app_guid: &str,
        actor: &Actor,
    ) {
        let data = json!({"deployment_guid": deployment_guid, "droplet_guid": droplet_guid});
        self.record_user_event(kind, actor, app_guid, data);
    }

    /// One Diego crash report: ProcessEventRepository.record_crash
    /// (actor = the process, `type: "process"`, name = process type; data =
    /// the crash payload plus `version`, added by
    /// app/controllers/internal/app_crashed_controller.rb) and the legacy
    /// `app.crash` event of AppEventRepository#create_app_crash_event (actor =
    /// the app, data = a slice of the payload).
    pub(crate) fn record_crash(&mut self, crash: &Crash) {
        let Some(app) = self.apps.get(
            &self
                .processes
                .get(&crash.process_guid)
                .map(|p| p.app_guid.clone())
                .unwrap_or_default(),
        ) else {
            return;
        };
        let app_guid = app.guid.clone();
        let app_name = app.name.clone();
        let g = &crash.process_guid;
        let i = crash.index;
        let n = crash.crash_count;
        // Diego's instance guid (a new one per start) and cell id.
        let instance = {
            let u = uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_OID,
                format!("{g}/{i}/{n}").as_bytes(),
            )
            .to_string();
            u[..28].to_owned()
        };
        let cell_id = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("cell/{}", i % 4).as_bytes(),
        )
        .to_string();
        let process_name = crash.process_type.to_uppercase();
        let exit_description = format!("APP/PROC/{process_name}: Exited with status 1");
        let crash_timestamp = crash.at.timestamp_nanos_opt().unwrap_or_default();
        let payload = json!({
            "instance": instance,
            "index": i,
            "cell_id": cell_id,
            "reason": "CRASHED",
            "exit_status": 1,
            "exit_description": exit_description,
            "crash_count": n,
            "crash_timestamp": crash_timestamp,
            // Diego::ProcessGuid.cc_process_version: the process version,
            // which the simulator keeps equal to the process guid.
            "version": g,
        });
        self.record_app_event(
            types::APP_PROCESS_CRASH,
            EventParty {
                guid: g.clone(),
                kind: "process".to_owned(),
                name: crash.process_type.clone(),
            },
            &app_guid,
            payload,
            crash.at,
        );
        let legacy = json!({
            "instance": instance,
            "index": i,
            "cell_id": cell_id,
            "exit_status": 1,
            "exit_description": exit_description,
            "reason": "CRASHED",
        });
        self.record_app_event(
            types::APP_CRASH,
            EventParty {
                guid: app_guid.clone(),
                kind: "app".to_owned(),
                name: app_name,
            },
            &app_guid,
            legacy,
            crash.at,
        );
    }
}
