use std::collections::HashSet;

use cf_sim::{AppSpec, Fault, FaultRule, LifecycleKind, OPT_OUT_LABEL, StackState};
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{manual, manual_with_apps, spec, start};

fn guids(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|v| v["guid"].as_str().expect("guid").to_owned())
        .collect()
}

#[tokio::test]
async fn pagination_links_are_absolute_and_keep_filters() {
    let (sim, api) = start(manual_with_apps(20)).await;
    let body = api
        .ok("/v3/apps?per_page=7&order_by=name&lifecycle_type=buildpack")
        .await;
    let p = &body["pagination"];
    let total = p["total_results"].as_u64().expect("total");
    assert_eq!(p["total_pages"].as_u64(), Some(total.div_ceil(7)));
    let next = p["next"]["href"].as_str().expect("next");
    assert!(
        next.starts_with(&format!("{}/v3/apps?", sim.url())),
        "{next}"
    );
    assert!(next.contains("page=2") && next.contains("per_page=7"));
    assert!(next.contains("order_by=name") && next.contains("lifecycle_type=buildpack"));
    assert!(p["previous"].is_null());
    assert!(
        p["first"]["href"]
            .as_str()
            .expect("first")
            .contains("page=1")
    );

    let all = api
        .all("/v3/apps?per_page=7&order_by=name&lifecycle_type=buildpack")
        .await;
    assert_eq!(all.len() as u64, total);
    let unique: HashSet<_> = guids(&all).into_iter().collect();
    assert_eq!(unique.len() as u64, total);
    let names: Vec<&str> = all
        .iter()
        .map(|a| a["name"].as_str().expect("name"))
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "order_by=name across pages");

    let last_page = api
        .ok(&format!("/v3/apps?per_page=7&page={}", total.div_ceil(7)))
        .await;
    assert!(last_page["pagination"]["next"].is_null());
    assert!(last_page["pagination"]["previous"]["href"].is_string());
}

#[tokio::test]
async fn per_page_and_page_bounds_are_enforced() {
    let (_sim, api) = start(manual()).await;
    for q in ["per_page=0", "per_page=5001", "per_page=abc", "page=0"] {
        let r = api.get(&format!("/v3/apps?{q}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(r.error(), (10005, "CF-BadQueryParameter".to_owned()), "{q}");
    }
    assert_eq!(
        api.get("/v3/apps?per_page=5000").await.status,
        StatusCode::OK
    );
    let r = api.get("/v3/apps?bogus=1").await;
    assert_eq!(r.error().0, 10005);
    assert!(r.detail().contains("'bogus'"));
}

#[tokio::test]
async fn exactly_per_page_results_have_no_next_page() {
    let (_sim, api) = start(manual_with_apps(10)).await;
    let body = api.ok("/v3/apps?per_page=10").await;
    assert_eq!(body["pagination"]["total_pages"], 1);
    assert!(body["pagination"]["next"].is_null());
    assert_eq!(body["resources"].as_array().map(Vec::len), Some(10));
    let page2 = api.ok("/v3/apps?per_page=5&page=2").await;
    assert!(page2["pagination"]["next"].is_null());
    assert_eq!(page2["resources"].as_array().map(Vec::len), Some(5));
}

#[tokio::test]
async fn pagination_host_fault_changes_host_but_not_port() {
    let (sim, api) = start(manual_with_apps(6)).await;
    sim.set_fault(FaultRule::all(Fault::PaginationHost(
        "localhost".to_owned(),
    )));
    let body = api.ok("/v3/apps?per_page=2").await;
    let next = body["pagination"]["next"]["href"].as_str().expect("next");
    let port = sim.addr().port();
    assert!(
        next.starts_with(&format!("http://localhost:{port}/v3/apps?")),
        "{next}"
    );
    // The link is followable as is.
    assert_eq!(api.all("/v3/apps?per_page=2").await.len(), 6);
}

#[tokio::test]
async fn an_app_inserted_between_pages_shifts_the_next_page() {
    let (sim, api) = start(manual_with_apps(6)).await;
    sim.set_fault(FaultRule::all(Fault::InsertBetweenPages).times(1));
    let page1 = api.ok("/v3/apps?per_page=3").await;
    assert_eq!(page1["pagination"]["total_results"], 6);
    let next = page1["pagination"]["next"]["href"].as_str().expect("next");
    let page2 = api.ok(next).await;
    assert_eq!(page2["pagination"]["total_results"], 7);
    assert_eq!(
        page1["resources"][2]["guid"], page2["resources"][0]["guid"],
        "the last item of page 1 is seen again"
    );
    assert!(sim.faults().is_empty(), "a times(1) rule is spent");
}

#[tokio::test]
async fn include_space_organization_returns_included_resources() {
    let (_sim, api) = start(manual_with_apps(12)).await;
    let body = api
        .ok("/v3/apps?per_page=12&include=space.organization")
        .await;
    let spaces = body["included"]["spaces"].as_array().expect("spaces");
    let orgs = body["included"]["organizations"]
        .as_array()
        .expect("organizations");
    let space_guids: HashSet<&str> = spaces.iter().filter_map(|s| s["guid"].as_str()).collect();
    let org_guids: HashSet<&str> = orgs.iter().filter_map(|o| o["guid"].as_str()).collect();
    for app in body["resources"].as_array().expect("apps") {
        let s = app["relationships"]["space"]["data"]["guid"]
            .as_str()
            .expect("space");
        assert!(space_guids.contains(s));
    }
    for s in spaces {
        let o = s["relationships"]["organization"]["data"]["guid"]
            .as_str()
            .expect("org");
        assert!(org_guids.contains(o));
    }
    let only_space = api.ok("/v3/apps?include=space").await;
    assert!(only_space["included"]["organizations"].is_null());
    assert_eq!(
        api.get("/v3/apps?include=droplet").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn app_filters_select_the_right_apps() {
    let (sim, api) = start(manual()).await;
    let a = sim.add_app(AppSpec::new("alpha"));
    let mut fs3 = AppSpec::new("beta");
    fs3.stack = "cflinuxfs3".to_owned();
    fs3.org = "other-org".to_owned();
    let b = sim.add_app(fs3);
    let mut docker = AppSpec::new("gamma");
    docker.lifecycle = LifecycleKind::Docker;
    let c = sim.add_app(docker);
    let mut opted = AppSpec::new("delta");
    opted
        .labels
        .insert(OPT_OUT_LABEL.to_owned(), "true".to_owned());
    let d = sim.add_app(opted);

    let one = |body: Value| guids(body["resources"].as_array().expect("resources"));
    assert_eq!(one(api.ok("/v3/apps?names=alpha").await), vec![a.clone()]);
    assert_eq!(
        one(api.ok("/v3/apps?stacks=cflinuxfs3").await),
        vec![b.clone()]
    );
    assert_eq!(
        one(api.ok("/v3/apps?lifecycle_type=docker").await),
        vec![c.clone()]
    );
    assert_eq!(
        one(api.ok(&format!("/v3/apps?guids={a},{d}")).await),
        vec![a.clone(), d.clone()]
    );
    let beta = sim.app(&b).expect("beta");
    assert_eq!(
        one(api
            .ok(&format!("/v3/apps?organization_guids={}", beta.org_guid))
            .await),
        vec![b.clone()]
    );
    let alpha = sim.app(&a).expect("alpha");
    let in_space = one(api
        .ok(&format!("/v3/apps?space_guids={}", alpha.space_guid))
        .await);
    assert_eq!(in_space, vec![a.clone(), c.clone(), d.clone()]);
    assert_eq!(
        one(api
            .ok("/v3/apps?label_selector=restager.io/opt-out=true")
            .await),
        vec![d.clone()]
    );
    let not_opted = one(api.ok("/v3/apps?label_selector=!restager.io/opt-out").await);
    assert_eq!(not_opted, vec![a.clone(), b.clone(), c.clone()]);
    let app = api.ok(&format!("/v3/apps/{d}")).await;
    assert_eq!(app["metadata"]["labels"][OPT_OUT_LABEL], "true");
    assert_eq!(app["lifecycle"]["data"]["buildpacks"][0], "ruby_buildpack");
    assert_eq!(app["lifecycle"]["data"]["stack"], "cflinuxfs4");
    let docker = api.ok(&format!("/v3/apps/{c}")).await;
    assert_eq!(docker["lifecycle"]["type"], "docker");
    let desc = one(api.ok("/v3/apps?order_by=-name").await);
    assert_eq!(desc.first(), Some(&c));
}

#[tokio::test]
async fn droplets_carry_versions_and_buildpacks_only_filenames() {
    let (sim, api) = start(manual()).await;
    let mut old = AppSpec::new("old");
    old.buildpack_version = Some("1.10.24".to_owned());
    let a = sim.add_app(old);
    let b = sim.add_app(AppSpec::new("new"));
    let app = api.ok(&format!("/v3/apps/{a}")).await;
    let da = app["relationships"]["current_droplet"]["data"]["guid"]
        .as_str()
        .expect("droplet")
        .to_owned();
    let db = sim
        .app(&b)
        .and_then(|s| s.current_droplet)
        .expect("droplet");
    let list = api
        .ok(&format!("/v3/droplets?guids={da},{db}&per_page=5000"))
        .await;
    let res = list["resources"].as_array().expect("droplets");
    assert_eq!(res.len(), 2);
    let bp = &res[0]["buildpacks"][0];
    assert_eq!(bp["name"], "ruby_buildpack");
    assert_eq!(bp["buildpack_name"], "ruby");
    assert_eq!(bp["version"], "1.10.24");
    assert_eq!(res[1]["buildpacks"][0]["version"], "1.10.29");
    assert_eq!(res[0]["stack"], "cflinuxfs4");
    assert!(
        res[0]["links"]["package"]["href"]
            .as_str()
            .expect("package link")
            .starts_with(&format!("{}/v3/packages/", sim.url()))
    );
    let current = api.ok(&format!("/v3/apps/{a}/droplets/current")).await;
    assert_eq!(current["guid"], da);

    let bps = api
        .ok("/v3/buildpacks?names=ruby_buildpack&stacks=cflinuxfs4")
        .await;
    let bp = &bps["resources"][0];
    assert_eq!(bp["filename"], "ruby_buildpack-cflinuxfs4-v1.10.29.zip");
    assert!(bp.get("version").is_none(), "no version field");
    sim.install_buildpack("ruby_buildpack", "1.10.30");
    let bps = api
        .ok("/v3/buildpacks?names=ruby_buildpack&stacks=cflinuxfs4")
        .await;
    assert_eq!(
        bps["resources"][0]["filename"],
        "ruby_buildpack-cflinuxfs4-v1.10.30.zip"
    );
    assert_ne!(bps["resources"][0]["updated_at"], bp["updated_at"]);
}

#[tokio::test]
async fn missing_droplets_and_unknown_resources_are_404() {
    let (sim, api) = start(manual()).await;
    let a = sim.add_app(spec("bare", |s| s.has_droplet = false));
    let r = api.get(&format!("/v3/apps/{a}/droplets/current")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error(), (10010, "CF-ResourceNotFound".to_owned()));
    assert_eq!(r.detail(), "Droplet not found");
    let r = api.get("/v3/apps/nope").await;
    assert_eq!(r.detail(), "App not found");
    assert_eq!(
        api.get("/v3/deployments/nope").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn packages_newest_ready_and_expired() {
    let (sim, api) = start(manual()).await;
    let mut newer = AppSpec::new("newer");
    newer.newer_package = true;
    let a = sim.add_app(newer);
    let snap = sim.app(&a).expect("app");
    let droplet_pkg = snap.droplets[0].package.clone().expect("package");
    let newest = api.ready_package(&a).await;
    assert_ne!(
        newest, droplet_pkg,
        "newest READY package is not the live one"
    );
    let all = api.ok(&format!("/v3/packages?app_guids={a}")).await;
    assert_eq!(all["pagination"]["total_results"], 2);
    assert_eq!(all["resources"][0]["type"], "bits");

    let mut expired = AppSpec::new("expired");
    expired.package_expired = true;
    let e = sim.add_app(expired);
    let body = api
        .ok(&format!("/v3/packages?app_guids={e}&states=READY"))
        .await;
    assert_eq!(body["pagination"]["total_results"], 0);
    let body = api.ok(&format!("/v3/apps/{e}/packages")).await;
    assert_eq!(body["resources"][0]["state"], "EXPIRED");

    let mut none = AppSpec::new("dropletonly");
    none.has_package = false;
    let n = sim.add_app(none);
    let body = api.ok(&format!("/v3/packages?app_guids={n}")).await;
    assert_eq!(body["pagination"]["total_results"], 0);
    let d = api.ok(&format!("/v3/apps/{n}/droplets/current")).await;
    assert!(d["links"].get("package").is_none());
}

#[tokio::test]
async fn stacks_report_their_states() {
    let (sim, api) = start(manual()).await;
    assert!(sim.set_stack_state("cflinuxfs3", StackState::Deprecated));
    let body = api.ok("/v3/stacks?names=cflinuxfs3,cflinuxfs4").await;
    let states: Vec<(&str, &str)> = body["resources"]
        .as_array()
        .expect("stacks")
        .iter()
        .map(|s| {
            (
                s["name"].as_str().expect("name"),
                s["state"].as_str().expect("state"),
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![("cflinuxfs4", "ACTIVE"), ("cflinuxfs3", "DEPRECATED")]
    );
}
