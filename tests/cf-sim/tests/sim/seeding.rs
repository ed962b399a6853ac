use cf_sim::{AppState, CfSim, LifecycleKind, OPT_OUT_LABEL, SimConfig};

#[tokio::test]
async fn a_seed_reproduces_the_foundation() {
    let config = SimConfig {
        apps: 50,
        ..crate::common::manual()
    };
    let a = CfSim::start(config.clone()).await.expect("sim");
    let b = CfSim::start(config).await.expect("sim");
    let key = |sim: &CfSim| -> Vec<(String, String, Option<String>, Vec<String>)> {
        sim.apps()
            .into_iter()
            .map(|a| {
                (
                    a.guid,
                    a.name,
                    a.current_droplet,
                    a.current_buildpacks
                        .into_iter()
                        .map(|b| b.version)
                        .collect(),
                )
            })
            .collect()
    };
    assert_eq!(key(&a), key(&b));
    let c = CfSim::start(SimConfig {
        apps: 50,
        seed: 1,
        ..crate::common::manual()
    })
    .await
    .expect("sim");
    assert_ne!(key(&a), key(&c));
}

#[tokio::test]
async fn a_large_foundation_has_a_realistic_mix() {
    let sim = CfSim::start(SimConfig {
        apps: 10_000,
        ..crate::common::manual()
    })
    .await
    .expect("sim");
    let apps = sim.apps();
    assert_eq!(apps.len(), 10_000);
    let count = |f: &dyn Fn(&cf_sim::AppSnapshot) -> bool| apps.iter().filter(|a| f(a)).count();
    let stopped = count(&|a| a.state == AppState::Stopped);
    let docker = count(&|a| a.lifecycle == LifecycleKind::Docker);
    let opted = count(&|a| a.labels.contains_key(OPT_OUT_LABEL));
    let fs3 = count(&|a| a.stack == "cflinuxfs3");
    let outdated = count(&|a| {
        a.current_buildpacks.iter().any(|b| {
            sim.installed_version(&b.name, a.stack.as_str()).as_deref() != Some(b.version.as_str())
        })
    });
    assert!((700..1300).contains(&stopped), "{stopped}");
    assert!((150..500).contains(&docker), "{docker}");
    assert!((150..500).contains(&opted), "{opted}");
    assert!((1000..2000).contains(&fs3), "{fs3}");
    assert!((4000..7000).contains(&outdated), "{outdated}");
    assert!(apps.iter().all(|a| (0..=6).contains(&a.web_instances())));
    let spaces: std::collections::HashSet<_> = apps.iter().map(|a| &a.space_guid).collect();
    assert!(spaces.len() > 10);
}
