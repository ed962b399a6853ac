//! `GET /v3/audit_events`: what restager's actions record, CC's filters
//! (events_list_message.rb, list_message.rb, validators.rb) and pagination.

use cf_sim::AppSpec;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{manual, start};

fn types_of(list: &Value) -> Vec<String> {
    list["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|e| e["type"].as_str().expect("type").to_owned())
        .collect()
}

#[tokio::test]
async fn a_restage_records_build_droplet_and_deployment_events() {
    let (sim, api) = start(manual()).await;
    let app = sim.add_app(AppSpec::new("audited"));
    let mut elsewhere = AppSpec::new("elsewhere");
    elsewhere.space = "other-space".to_owned();
    let other = sim.add_app(elsewhere);
    let droplet = api.staged_droplet(&app).await;
    let d = api.deploy(&app, &droplet, 1).await;
    assert_eq!(d.status, StatusCode::CREATED, "{}", d.body);
    let deployment = d.guid();
    let c = api.cancel(&deployment).await;
    assert_eq!(c.status, StatusCode::OK);
    api.staged_droplet(&other).await;

    let list = api
        .ok(&format!("/v3/audit_events?target_guids={app}"))
        .await;
    assert_eq!(
        types_of(&list),
        [
            "audit.app.build.create",
            "audit.app.droplet.create",
            "audit.app.deployment.create",
            "audit.app.deployment.cancel",
        ]
    );
    let snap = sim.app(&app).expect("app");
    let build = &list["resources"][0];
    // A client_credentials actor: guid = client id, name = email "" (UserAuditInfo).
    assert_eq!(
        build["actor"],
        json!({"guid": sim.client_id(), "type": "user", "name": ""})
    );
    assert_eq!(
        build["target"],
        json!({"guid": app, "type": "app", "name": "audited"})
    );
    assert_eq!(build["space"]["guid"], snap.space_guid);
    assert_eq!(build["organization"]["guid"], snap.org_guid);
    assert_eq!(build["created_at"], build["updated_at"]);
    assert_eq!(build["data"]["build_guid"], snap.builds[0].guid);
    assert_eq!(build["data"]["package_guid"], snap.builds[0].package);
    assert_eq!(list["resources"][1]["data"]["droplet_guid"], droplet);
    let created = &list["resources"][2]["data"];
    assert_eq!(created["deployment_guid"], deployment);
    assert_eq!(created["droplet_guid"], droplet);
    assert_eq!(created["strategy"], "rolling");
    assert!(created["type"].is_null(), "not a rollback: {created}");
    assert!(created["revision_guid"].is_string());
    assert_eq!(created["request"]["options"]["max_in_flight"], 1);
    assert_eq!(
        list["resources"][3]["data"],
        json!({"deployment_guid": deployment, "droplet_guid": droplet})
    );
    let guid = build["guid"].as_str().expect("guid");
    assert_eq!(
        build["links"]["self"]["href"],
        format!("{}/v3/audit_events/{guid}", sim.url())
    );
    assert_eq!(
        &api.ok(&format!("/v3/audit_events/{guid}")).await,
        build,
        "show = list entry"
    );
    let missing = api.get("/v3/audit_events/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.detail(), "Event not found");

    // Filters.
    let deploys = format!(
        "/v3/audit_events?types=audit.app.deployment.create,audit.app.deployment.cancel&target_guids={app}"
    );
    assert_eq!(api.total(&deploys).await, 2);
    let all = api.ok("/v3/audit_events").await;
    assert_eq!(all["pagination"]["total_results"], 6);
    let other_space = sim.app(&other).expect("other").space_guid;
    let there = api
        .ok(&format!("/v3/audit_events?space_guids={other_space}"))
        .await;
    assert_eq!(types_of(&there).len(), 2);
    assert!(
        there["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .all(|e| e["target"]["guid"] == other.as_str())
    );
    assert_eq!(
        api.total(&format!("/v3/audit_events?target_guids[not]={app}"))
            .await,
        2
    );
    let by_guid = api.ok(&format!("/v3/audit_events?guids={guid}")).await;
    assert_eq!(by_guid["pagination"]["total_results"], 1);
    let newest = api
        .ok(&format!(
            "/v3/audit_events?target_guids={app}&order_by=-created_at"
        ))
        .await;
    assert_eq!(
        types_of(&newest).first().map(String::as_str),
        Some("audit.app.deployment.cancel")
    );
    assert_eq!(sim.audit_events_for(&app).len(), 4);
    assert_eq!(sim.audit_events().len(), 6);
}

#[tokio::test]
async fn timestamps_filter_by_whole_seconds_and_bad_ones_are_400() {
    let (sim, api) = start(manual()).await;
    let app = sim.add_app(AppSpec::new("timed"));
    api.staged_droplet(&app).await;
    let list = api
        .ok(&format!("/v3/audit_events?target_guids={app}"))
        .await;
    let first = list["resources"][0].clone();
    let t = first["created_at"].as_str().expect("created_at").to_owned();
    let with = |op: &str| format!("/v3/audit_events?target_guids={app}&created_ats{op}={t}");
    let has_first = |body: &Value| {
        body["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .any(|e| e["guid"] == first["guid"])
    };
    // BaseListFetcher: gte/lte/equality include the event's whole second,
    // gt/lt exclude it.
    for (op, included) in [
        ("[gte]", true),
        ("[lte]", true),
        ("", true),
        ("[gt]", false),
        ("[lt]", false),
    ] {
        let body = api.ok(&with(op)).await;
        assert_eq!(has_first(&body), included, "created_ats{op}={t}: {body}");
    }
    // %-encoded brackets work too.
    let encoded = api
        .ok(&format!(
            "/v3/audit_events?target_guids={app}&created_ats%5Bgte%5D={t}"
        ))
        .await;
    assert!(has_first(&encoded));
    assert_eq!(
        api.total("/v3/audit_events?created_ats[gt]=2999-01-01T00:00:00Z")
            .await,
        0
    );
    let window = "/v3/audit_events?created_ats[gt]=2000-01-01T00:00:00Z&updated_ats[lt]=2999-01-01T00:00:00Z";
    assert_eq!(api.total(window).await, 2);

    let format = "The query parameter is invalid: Created ats has an invalid timestamp format. Timestamps should be formatted as 'YYYY-MM-DDThh:mm:ssZ'";
    for bad in [
        "created_ats[gt]=2026-08-21T09:17:05.123Z",
        "created_ats[gt]=2026-08-21T09:17:05%2B00:00",
        "created_ats[lt]=yesterday",
        "created_ats=2026-08-21",
    ] {
        let r = api.get(&format!("/v3/audit_events?{bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(r.error(), (10005, "CF-BadQueryParameter".to_owned()));
        assert_eq!(r.detail(), format, "{bad}");
    }
    let r = api
        .get("/v3/audit_events?created_ats[gt]=2026-08-21T09:17:05Z,2026-08-21T09:17:06Z")
        .await;
    assert_eq!(
        r.detail(),
        "The query parameter is invalid: Created ats only accepts one value when using a relational operator"
    );
    let r = api
        .get("/v3/audit_events?created_ats[after]=2026-08-21T09:17:05Z")
        .await;
    assert_eq!(
        r.detail(),
        "The query parameter is invalid: Created ats Invalid relational operator: 'after'"
    );
    let r = api.get("/v3/audit_events?actee=x").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.detail(),
        "The query parameter is invalid: Unknown query parameter(s): 'actee'. Valid parameters are: 'page', 'per_page', 'order_by', 'created_ats', 'updated_ats', 'guids', 'types', 'target_guids', 'space_guids', 'organization_guids'"
    );
    let r = api.get("/v3/audit_events?order_by=type").await;
    assert_eq!(
        r.detail(),
        "The query parameter is invalid: Order by can only be: 'created_at', 'updated_at'"
    );
}

#[tokio::test]
async fn pages_keep_the_filters_as_cc_encodes_them() {
    let (sim, api) = start(manual()).await;
    let app = sim.add_app(AppSpec::new("paged"));
    api.staged_droplet(&app).await;
    api.staged_droplet(&app).await;
    let first = api
        .ok(&format!(
            "/v3/audit_events?types=audit.app.build.create,audit.app.droplet.create&target_guids={app}&created_ats[gt]=2000-01-01T00:00:00Z&per_page=1"
        ))
        .await;
    assert_eq!(first["pagination"]["total_results"], 4);
    assert_eq!(first["pagination"]["total_pages"], 4);
    assert!(first["pagination"]["previous"].is_null());
    let next = first["pagination"]["next"]["href"]
        .as_str()
        .expect("next")
        .to_owned();
    assert_eq!(
        next,
        format!(
            "{}/v3/audit_events?created_ats%5Bgt%5D=2000-01-01T00%3A00%3A00Z&page=2&per_page=1&target_guids={app}&types=audit.app.build.create%2Caudit.app.droplet.create",
            sim.url()
        )
    );
    let all = api.all(&next).await;
    assert_eq!(all.len(), 3, "pages 2..4");
}

#[tokio::test]
async fn other_lists_take_the_same_timestamp_filters() {
    let (sim, api) = start(manual()).await;
    let app = sim.add_app(AppSpec::new("lists"));
    let droplet = api.staged_droplet(&app).await;
    api.deploy(&app, &droplet, 1).await;
    for path in ["/v3/apps", "/v3/builds", "/v3/deployments", "/v3/droplets"] {
        assert_eq!(
            api.total(&format!("{path}?created_ats[gt]=2999-01-01T00:00:00Z"))
                .await,
            0,
            "{path}"
        );
        let some = api
            .ok(&format!(
                "{path}?created_ats[gte]=2000-01-01T00:00:00Z&updated_ats[lt]=2999-01-01T00:00:00Z"
            ))
            .await;
        assert!(
            some["pagination"]["total_results"].as_u64() >= Some(1),
            "{path}"
        );
        let bad = api
            .get(&format!("{path}?updated_ats[lte]=2026-08-21T09:17:05.1Z"))
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(
            bad.detail(),
            "The query parameter is invalid: Updated ats has an invalid timestamp format. Timestamps should be formatted as 'YYYY-MM-DDThh:mm:ssZ'"
        );
    }
}
