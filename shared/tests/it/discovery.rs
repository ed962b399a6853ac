//! Discovery against the Cloud Controller simulator: the plan for each kind of
//! notice is compared with an expectation computed from the simulator's own
//! state, and its cost is read from the simulator's request log.

use std::collections::{BTreeMap, BTreeSet};

use crate::webhook_support::{
    Expect, RUBY, client, client_at, expected_buildpack, expected_stack, jobs_of, sim,
};
use cf_sim::{AppSpec, AppState, StackState};
use restager_shared::cf::CfClient;
use restager_shared::config::ScopeSettings;
use restager_shared::discovery::{self, Plan};
use restager_shared::domain::{Action, Notice, RunId, Version};

fn v(s: &str) -> Version {
    Version::parse(s).expect("version")
}

fn ruby(version: &str, stack: Option<&str>) -> Notice {
    Notice::Buildpack {
        buildpack: RUBY.into(),
        version: v(version),
        stack: stack.map(str::to_string),
    }
}

/// The plan a restage notice gets with no scope settings.
async fn default_plan(cf: &CfClient, notice: &Notice) -> Plan {
    discovery::plan(cf, notice, Action::Restage, &ScopeSettings::default())
        .await
        .expect("plan")
}

fn job_guids(plan: &Plan) -> BTreeSet<String> {
    plan.jobs.iter().map(|j| j.app.guid.clone()).collect()
}

/// Checks every job and every skip of `plan` against `expected`.
fn assert_matches(plan: &Plan, expected: &BTreeMap<String, Expect>) {
    assert_eq!(job_guids(plan), jobs_of(expected), "jobs differ");
    assert_eq!(plan.jobs.len(), job_guids(plan).len(), "one job per app");
    let skipped: BTreeMap<&str, &str> = plan
        .skipped
        .iter()
        .map(|s| (s.app.guid.as_str(), s.reason.as_str()))
        .collect();
    for (guid, expect) in expected.iter().filter(|(_, e)| **e != Expect::Job) {
        let reason = skipped
            .get(guid.as_str())
            .unwrap_or_else(|| panic!("{guid} ({expect:?}) not reported as skipped"));
        assert!(
            reason.contains(expect.keyword()),
            "{guid}: {expect:?} but reason `{reason}`"
        );
    }
    assert_eq!(
        skipped.len(),
        expected.len() - jobs_of(expected).len(),
        "unexpected skips: {skipped:?}"
    );
}

#[tokio::test]
async fn buildpack_notice_plans_exactly_the_outdated_started_apps_compared_numerically() {
    let sim = sim(400).await;
    sim.install_buildpack(RUBY, "1.10.30");
    // String order would call 1.9.99 newer than 1.10.30.
    let mut old = AppSpec::new("legacy-shop");
    old.buildpack_version = Some("1.9.99".into());
    let legacy = sim.add_app(old);
    let mut newer = AppSpec::new("early-adopter");
    newer.buildpack_version = Some("1.10.100".into());
    let early = sim.add_app(newer);

    let notice = ruby("1.10.30", None);
    let plan = default_plan(&client(&sim), &notice).await;

    let expected = expected_buildpack(&sim, RUBY, "1.10.30", |_| Some("1.10.30".into()));
    assert!(
        jobs_of(&expected).len() > 20,
        "the seed has outdated ruby apps"
    );
    assert_matches(&plan, &expected);
    assert!(job_guids(&plan).contains(&legacy));
    assert_eq!(expected.get(&early), Some(&Expect::Current));
    assert!(plan.not_installed.is_none() && plan.note.is_none());
    assert_eq!(plan.run_id, RunId::for_release(&notice.release_key()));
    for job in &plan.jobs {
        let app = sim.app(&job.app.guid).expect("job names a real app");
        assert_eq!(job.app.name, app.name);
        assert_eq!(
            (job.app.org_name.as_str(), job.app.space_name.as_str()),
            (app.org.as_str(), app.space.as_str())
        );
        assert_eq!(
            (job.app.org_guid.as_str(), job.app.space_guid.as_str()),
            (app.org_guid.as_str(), app.space_guid.as_str())
        );
        assert_eq!(Some(&job.droplet_guid), app.current_droplet.as_ref());
        assert_eq!(job.action, Action::Restage);
        assert_eq!(job.buildpack.as_deref(), Some(RUBY));
        assert_eq!(job.target_version, Some(v("1.10.30")));
        assert_eq!(job.run_id, plan.run_id);
    }
    // Repeatable: the same notice plans the same job ids.
    let again = default_plan(&client(&sim), &notice).await;
    let ids = |p: &Plan| {
        p.jobs
            .iter()
            .map(|j| j.job_id.clone())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(ids(&plan), ids(&again));
}

#[tokio::test]
async fn a_version_not_installed_yet_plans_nothing_and_says_so_without_listing_apps() {
    let sim = sim(50).await;
    let plan = default_plan(&client(&sim), &ruby("1.10.31", None)).await;
    assert!(plan.jobs.is_empty() && plan.skipped.is_empty());
    let why = plan
        .not_installed
        .as_deref()
        .expect("not installed is reported");
    assert!(
        why.contains("ruby_buildpack 1.10.31 is not installed"),
        "{why}"
    );
    assert!(why.contains("1.10.29 on cflinuxfs4"), "{why}");
    assert!(!plan.is_definitive());
    assert_eq!(sim.count("GET", "/v3/apps"), 0);
    assert_eq!(sim.count("GET", "/v3/droplets"), 0);
}

#[tokio::test]
async fn installs_are_per_stack() {
    let sim = sim(400).await;
    sim.install_buildpack_for_stack(RUBY, "cflinuxfs4", "1.10.30");
    let cf = client(&sim);
    let installed = |stack: &str| {
        Some(
            if stack == "cflinuxfs4" {
                "1.10.30"
            } else {
                "1.10.29"
            }
            .to_string(),
        )
    };

    let any_stack = default_plan(&cf, &ruby("1.10.30", None)).await;
    let expected = expected_buildpack(&sim, RUBY, "1.10.30", installed);
    assert!(
        expected
            .values()
            .any(|e| *e == Expect::NotInstalledForStack),
        "seed has cflinuxfs3 ruby apps"
    );
    assert_matches(&any_stack, &expected);

    let fs3 = default_plan(&cf, &ruby("1.10.30", Some("cflinuxfs3"))).await;
    assert!(fs3.jobs.is_empty());
    assert!(
        fs3.not_installed
            .as_deref()
            .is_some_and(|w| w.contains("for cflinuxfs3")),
        "{:?}",
        fs3.not_installed
    );

    let fs4 = default_plan(&cf, &ruby("1.10.30", Some("cflinuxfs4"))).await;
    let fs4_expected: BTreeMap<String, Expect> = expected
        .into_iter()
        .filter(|(g, _)| sim.app(g).is_some_and(|a| a.stack == "cflinuxfs4"))
        .collect();
    assert_matches(&fs4, &fs4_expected);
    assert!(sim.requests().iter().any(|r| {
        r.path == "/v3/apps"
            && r.query
                .as_deref()
                .is_some_and(|q| q.contains("stacks=cflinuxfs4"))
    }));
}

#[tokio::test]
async fn pagination_beyond_one_page_finds_the_same_apps() {
    let sim = sim(300).await;
    sim.install_buildpack(RUBY, "1.10.30");
    let notice = ruby("1.10.30", None);
    let scope = ScopeSettings::default();
    let one_page = discovery::plan(&client(&sim), &notice, Action::Restage, &scope)
        .await
        .expect("plan");
    sim.clear_requests();
    let paged = discovery::plan(&client_at(&sim.url(), 37), &notice, Action::Restage, &scope)
        .await
        .expect("plan");
    let app_pages = sim.count("GET", "/v3/apps");
    assert!(
        app_pages >= 300 / 37,
        "expected many pages of apps, got {app_pages}"
    );
    assert_eq!(job_guids(&paged), job_guids(&one_page));
    let skips = |p: &Plan| {
        p.skipped
            .iter()
            .map(|s| (s.app.guid.clone(), s.reason.clone()))
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(skips(&paged), skips(&one_page));
    assert_matches(
        &paged,
        &expected_buildpack(&sim, RUBY, "1.10.30", |_| Some("1.10.30".into())),
    );
}

#[tokio::test]
async fn ten_thousand_apps_cost_a_few_list_pages_and_droplet_batches_not_a_request_per_app() {
    let sim = sim(10_000).await;
    sim.install_buildpack(RUBY, "1.10.30");
    let cf = client(&sim);
    let plan = default_plan(&cf, &ruby("1.10.30", None)).await;
    assert_matches(
        &plan,
        &expected_buildpack(&sim, RUBY, "1.10.30", |_| Some("1.10.30".into())),
    );
    assert!(plan.jobs.len() > 500, "{} jobs", plan.jobs.len());

    let requests = sim.requests();
    let buildpack_apps = sim
        .apps()
        .iter()
        .filter(|a| a.lifecycle == cf_sim::LifecycleKind::Buildpack)
        .count();
    let batch = cf.options().guid_batch_size;
    let app_pages = buildpack_apps.div_ceil(5000);
    let droplet_batches = buildpack_apps.div_ceil(batch);
    let count = |prefix: &str| {
        requests
            .iter()
            .filter(|r| r.path.starts_with(prefix))
            .count()
    };
    let count_with = |prefix: &str, filter: &str| {
        requests
            .iter()
            .filter(|r| r.path == prefix && r.query.as_deref().is_some_and(|q| q.contains(filter)))
            .count()
    };
    assert_eq!(
        count_with("/v3/apps", "lifecycle_type="),
        app_pages,
        "app listing pages"
    );
    // The hints: per batch of the jobs' orgs, their space quotas, org
    // quotas, apps (for their states) and processes; per batch of jobs,
    // their live packages' builds and their deployments. Pages, not apps.
    let orgs: BTreeSet<&str> = plan.jobs.iter().map(|j| j.app.org_guid.as_str()).collect();
    let org_batches = orgs.len().div_ceil(batch);
    let job_batches = plan.jobs.len().div_ceil(batch);
    let all_apps = sim.apps();
    let processes: usize = all_apps.iter().map(|a| a.processes.len()).sum();
    assert_eq!(count("/v3/space_quotas"), org_batches);
    assert_eq!(count("/v3/organization_quotas"), org_batches);
    let state_pages = count_with("/v3/apps", "organization_guids=");
    assert!(
        state_pages <= org_batches + all_apps.len().div_ceil(5000),
        "{state_pages}"
    );
    let process_pages = count("/v3/processes");
    assert!(
        process_pages <= org_batches + processes.div_ceil(5000),
        "{process_pages}"
    );
    assert!(count("/v3/builds") <= job_batches);
    assert_eq!(count("/v3/deployments"), job_batches);
    assert_eq!(
        count("/v3/apps"),
        app_pages + state_pages,
        "no other app listing"
    );
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.path.starts_with("/v3/apps/"))
            .count(),
        0,
        "no per-app request"
    );
    assert_eq!(count("/v3/droplets"), droplet_batches, "droplet batches");
    assert_eq!(count("/v3/buildpacks"), 1);
    // GET / and the token, then buildpacks, app pages and droplet batches,
    // then the hints: nothing else.
    let hints = 2 * org_batches + state_pages + process_pages + 2 * job_batches;
    let bound = 2 + 1 + app_pages + droplet_batches + hints;
    assert!(
        (hints as f64) < 0.01 * all_apps.len() as f64,
        "{hints} requests for the hints of {} apps",
        all_apps.len()
    );
    assert!(
        requests.len() <= bound,
        "{} requests > {bound}",
        requests.len()
    );
    assert!(plan.cf_requests as usize <= bound);
}

#[tokio::test]
async fn scope_and_opt_out_label_are_respected_and_reported() {
    let sim = sim(300).await;
    sim.install_buildpack(RUBY, "1.10.30");
    let scope = ScopeSettings {
        orgs_deny: vec!["org-00".into()],
        spaces_deny: vec!["org-01/prod".into()],
        ..ScopeSettings::default()
    };
    let plan = discovery::plan(
        &client(&sim),
        &ruby("1.10.30", None),
        Action::Restage,
        &scope,
    )
    .await
    .expect("plan");
    let expected = expected_buildpack(&sim, RUBY, "1.10.30", |_| Some("1.10.30".into()));
    let excluded = |g: &str| {
        sim.app(g)
            .is_some_and(|a| a.org == "org-00" || (a.org == "org-01" && a.space == "prod"))
    };
    let want: BTreeSet<String> = jobs_of(&expected)
        .into_iter()
        .filter(|g| !excluded(g))
        .collect();
    assert_eq!(job_guids(&plan), want);
    let out_of_scope: Vec<_> = plan
        .skipped
        .iter()
        .filter(|s| s.reason.contains("out of scope"))
        .collect();
    assert!(!out_of_scope.is_empty());
    assert!(out_of_scope.iter().all(|s| excluded(&s.app.guid)));
    assert!(
        expected.values().any(|e| *e == Expect::OptedOut),
        "seed has opted-out ruby apps"
    );
}

#[tokio::test]
async fn stack_notice_restages_apps_on_that_stack_and_refuses_missing_or_disabled_stacks() {
    let sim = sim(300).await;
    let cf = client(&sim);
    let notice = Notice::Stack {
        stack: "cflinuxfs3".into(),
        version: v("1.323.0"),
    };
    let plan = default_plan(&cf, &notice).await;
    assert_matches(&plan, &expected_stack(&sim, "cflinuxfs3"));
    assert!(
        plan.jobs
            .iter()
            .all(|j| j.target_version.is_none() && j.buildpack.is_none())
    );

    let restart = discovery::plan(&cf, &notice, Action::Restart, &ScopeSettings::default())
        .await
        .expect("plan");
    assert!(restart.jobs.iter().all(|j| j.action == Action::Restart));
    // A restart needs no package, so those apps are not skipped for it.
    assert!(restart.jobs.len() >= plan.jobs.len());

    let missing = Notice::Stack {
        stack: "cflinuxfs5".into(),
        version: v("0.1.0"),
    };
    let plan = default_plan(&cf, &missing).await;
    assert!(
        plan.jobs.is_empty()
            && plan
                .not_installed
                .as_deref()
                .is_some_and(|w| w.contains("cflinuxfs5"))
    );

    assert!(sim.set_stack_state("cflinuxfs3", StackState::Disabled));
    let plan = default_plan(&cf, &notice).await;
    assert!(
        plan.jobs.is_empty()
            && plan
                .not_installed
                .as_deref()
                .is_some_and(|w| w.contains("DISABLED"))
    );
}

#[tokio::test]
async fn stemcells_need_no_app_action_by_default_and_cost_no_requests() {
    let sim = sim(30).await;
    let notice = Notice::Stemcell {
        stemcell: "ubuntu-jammy".into(),
        version: v("1.622"),
    };
    let plan = discovery::plan(
        &client(&sim),
        &notice,
        Action::None,
        &ScopeSettings::default(),
    )
    .await
    .expect("plan");
    assert!(plan.jobs.is_empty() && plan.skipped.is_empty());
    assert!(
        plan.note
            .as_deref()
            .is_some_and(|n| n.contains("RESTAGER_STEMCELL_ACTION=none"))
    );
    assert_eq!(plan.cf_requests, 0);
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn stopped_docker_and_droplet_only_apps_are_skipped_with_reasons() {
    let sim = sim(0).await;
    sim.install_buildpack(RUBY, "1.10.30");
    let mut stopped = AppSpec::new("stopped");
    stopped.buildpack_version = Some("1.10.20".into());
    stopped.state = AppState::Stopped;
    let stopped = sim.add_app(stopped);
    let mut bare = AppSpec::new("droplet-only");
    bare.buildpack_version = Some("1.10.20".into());
    bare.has_package = false;
    let bare = sim.add_app(bare);
    let mut docker = AppSpec::new("docker");
    docker.lifecycle = cf_sim::LifecycleKind::Docker;
    let docker = sim.add_app(docker);
    let mut ok = AppSpec::new("ok");
    ok.buildpack_version = Some("1.10.20".into());
    let ok = sim.add_app(ok);

    let cf = client(&sim);
    let plan = default_plan(&cf, &ruby("1.10.30", None)).await;
    assert_eq!(job_guids(&plan), BTreeSet::from([ok.clone()]));
    let reason = |g: &str| {
        plan.skipped
            .iter()
            .find(|s| s.app.guid == g)
            .map(|s| s.reason.clone())
    };
    assert!(reason(&stopped).is_some_and(|r| r.contains("STOPPED") && r.contains("start")));
    assert!(
        reason(&bare)
            .is_some_and(|r| r.contains("not restageable: no package behind the live droplet"))
    );
    assert_eq!(
        reason(&docker),
        None,
        "docker apps never used the buildpack"
    );

    // A stemcell configured to restage reaches every app, and refuses the docker one.
    let stemcell = Notice::Stemcell {
        stemcell: "ubuntu-jammy".into(),
        version: v("1.622"),
    };
    let plan = default_plan(&cf, &stemcell).await;
    let reason = |g: &str| {
        plan.skipped
            .iter()
            .find(|s| s.app.guid == g)
            .map(|s| s.reason.clone())
    };
    assert!(reason(&docker).is_some_and(|r| r.contains("docker")));
    assert_eq!(job_guids(&plan), BTreeSet::from([ok]));
}

#[tokio::test]
async fn outdated_apps_and_the_sweep_match_the_installed_versions() {
    let sim = sim(300).await;
    let cf = client(&sim);
    let scope = ScopeSettings::default();
    let outdated = discovery::outdated(&cf, &scope).await.expect("outdated");

    let mut want = BTreeMap::new();
    for app in sim.apps() {
        if app.lifecycle != cf_sim::LifecycleKind::Buildpack {
            continue;
        }
        for bp in &app.current_buildpacks {
            let installed = sim
                .installed_version(&bp.name, &app.stack)
                .expect("installed");
            if crate::webhook_support::older(&bp.version, &installed) {
                want.insert(app.guid.clone(), (bp.name.clone(), installed));
            }
        }
    }
    let got: BTreeMap<String, (String, String)> = outdated
        .iter()
        .map(|o| {
            (
                o.app.guid.clone(),
                (o.buildpack.clone(), o.installed.to_string()),
            )
        })
        .collect();
    assert_eq!(got, want);

    let runs = discovery::sweep_plan(&cf, &scope)
        .await
        .expect("sweep plan");
    let swept: BTreeSet<String> = runs
        .iter()
        .flat_map(|r| r.jobs.iter().map(|j| j.app.guid.clone()))
        .collect();
    let unblocked: BTreeSet<String> = outdated
        .iter()
        .filter(|o| o.blocked.is_none())
        .map(|o| o.app.guid.clone())
        .collect();
    assert_eq!(swept, unblocked);
    for run in &runs {
        let Notice::Buildpack {
            buildpack,
            version,
            stack,
        } = &run.record.notice
        else {
            panic!("sweep runs are buildpack runs");
        };
        assert!(stack.is_some());
        for job in &run.jobs {
            assert_eq!(
                want.get(&job.app.guid),
                Some(&(buildpack.clone(), version.to_string()))
            );
            assert_eq!(job.run_id, run.record.run_id);
        }
        assert_eq!(run.record.expected.len(), run.jobs.len());
    }
    let again = discovery::sweep_plan(&cf, &scope)
        .await
        .expect("sweep plan");
    let ids = |rs: &[discovery::RunPlan]| {
        rs.iter()
            .map(|r| r.record.run_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&runs), ids(&again), "sweep run ids are stable");
}

#[tokio::test]
async fn an_unreachable_foundation_is_a_retryable_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let err = discovery::plan(
        &client_at(&url, 5000),
        &ruby("1.10.30", None),
        Action::Restage,
        &ScopeSettings::default(),
    )
    .await
    .expect_err("nothing listens there");
    assert!(err.is_retryable(), "{err}");
}

#[tokio::test]
async fn each_job_names_the_package_behind_its_live_droplet() {
    let sim = sim(0).await;
    sim.install_buildpack(RUBY, "1.10.30");
    let mut spec = AppSpec::new("shop");
    spec.buildpack_version = Some("1.10.20".into());
    // Unreleased bits: the newest package is not the one behind the droplet.
    spec.newer_package = true;
    let guid = sim.add_app(spec);
    let live = Some(test_support::engine::live_package(&sim, &guid));

    let cf = client(&sim);
    for notice in [
        ruby("1.10.30", None),
        Notice::Stemcell {
            stemcell: "ubuntu-jammy".into(),
            version: v("1.622"),
        },
    ] {
        let plan = default_plan(&cf, &notice).await;
        assert_eq!(plan.jobs.len(), 1, "{notice:?}");
        assert_eq!(plan.jobs[0].package_guid, live, "{notice:?}");
    }
    let sweep = discovery::sweep_plan(&cf, &ScopeSettings::default())
        .await
        .expect("sweep");
    let jobs: Vec<_> = sweep.iter().flat_map(|r| r.jobs.iter()).collect();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].package_guid, live);
}
