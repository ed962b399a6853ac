//! Which wave each planned app goes in: the space's `restager.io/wave`
//! label when it has one, else the first `RESTAGER_WAVES` pattern its space
//! matches (the last wave when none does). Spaces come with the app listing's
//! `include`, so this costs no request.
//!
//! Waves are keyed by number: pattern waves are 1, 2, … in the order
//! configured, and a label's integer joins the wave of that number (or
//! makes one: `0` goes before wave 1, `9` after the last). Only numbers that
//! have apps become waves of the run, in ascending order.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::config::{RolloutSettings, WAVE_LABEL, WaveSpec};
use crate::domain::RestageJob;
use crate::ledger::{ExpectedJob, Rollout, RunState, WaveInfo};

/// A wave as the plan shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedWave {
    /// 1 for the wave that goes first.
    pub wave: usize,
    pub name: String,
    pub jobs: usize,
    /// `org/space` of its apps, sorted.
    pub spaces: Vec<String>,
}

/// The waves of a plan and each job's wave (an index into `waves`, in job order).
#[derive(Debug, Clone, Default)]
pub struct Assignment {
    pub waves: Vec<PlannedWave>,
    pub job_waves: Vec<u32>,
    /// Labels that are not wave numbers, one note per space.
    pub notes: Vec<String>,
}

impl Assignment {
    /// The run's rollout record before anything is released.
    pub fn rollout(&self, settings: &RolloutSettings) -> Rollout {
        let jobs = self.job_waves.len();
        Rollout {
            version: 1,
            state: RunState::Running,
            waves: self
                .waves
                .iter()
                .map(|w| WaveInfo {
                    name: w.name.clone(),
                    jobs: w.jobs,
                    released_at: None,
                })
                .collect(),
            max_failures: settings.max_failures.allowed(jobs),
            budget: settings.max_failures.to_string(),
            forgiven: 0,
            soak_ms: u64::try_from(settings.soak.as_millis()).unwrap_or(u64::MAX),
            generation: 0,
            history: Vec::new(),
        }
    }

    /// The expectations of `jobs` (as assigned), each in its wave.
    pub fn expected(&self, jobs: &[RestageJob]) -> Vec<ExpectedJob> {
        jobs.iter()
            .enumerate()
            .map(|(i, job)| {
                ExpectedJob::for_job(job).in_wave(self.job_waves.get(i).copied().unwrap_or(0))
            })
            .collect()
    }
}

/// Assigns `jobs` to waves. `label_of` gives a space's `restager.io/wave`
/// label by space guid.
pub fn assign<'a>(
    jobs: &[RestageJob],
    spec: &WaveSpec,
    label_of: impl Fn(&str) -> Option<&'a str>,
) -> Assignment {
    let mut notes = BTreeSet::new();
    let keys: Vec<u32> = jobs
        .iter()
        .map(|job| {
            let by_pattern = spec.wave_of(&job.app.org_name, &job.app.space_name);
            match label_of(&job.app.space_guid) {
                Some(raw) => match raw.trim().parse::<u32>() {
                    Ok(n) => n,
                    Err(_) => {
                        notes.insert(format!(
                            "space {}/{} has {WAVE_LABEL}={raw}, which is not a wave number (0, 1, 2, …): \
                             its apps go by the RESTAGER_WAVES patterns (wave {by_pattern})",
                            job.app.org_name, job.app.space_name
                        ));
                        by_pattern
                    }
                },
                None => by_pattern,
            }
        })
        .collect();
    let mut by_key: BTreeMap<u32, (usize, BTreeSet<String>)> = BTreeMap::new();
    for (job, key) in jobs.iter().zip(&keys) {
        let entry = by_key.entry(*key).or_default();
        entry.0 += 1;
        entry
            .1
            .insert(format!("{}/{}", job.app.org_name, job.app.space_name));
    }
    let index: BTreeMap<u32, u32> = by_key
        .keys()
        .enumerate()
        .map(|(i, k)| (*k, u32::try_from(i).unwrap_or(u32::MAX)))
        .collect();
    let single = spec.is_empty() && by_key.len() <= 1;
    let waves = by_key
        .into_iter()
        .enumerate()
        .map(|(i, (key, (count, spaces)))| PlannedWave {
            wave: i + 1,
            name: if single {
                "all apps".to_string()
            } else {
                spec.describe(key)
                    .unwrap_or_else(|| format!("{WAVE_LABEL}={key}"))
            },
            jobs: count,
            spaces: spaces.into_iter().collect(),
        })
        .collect();
    Assignment {
        waves,
        job_waves: keys.iter().map(|k| index[k]).collect(),
        notes: notes.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Action, AppRef, Notice, RunId, Version};

    fn job(org: &str, space: &str, n: usize) -> RestageJob {
        let notice = Notice::Buildpack {
            buildpack: "ruby_buildpack".into(),
            version: Version::parse("1.0.0").expect("version"),
            stack: None,
        };
        RestageJob::new(
            &RunId::for_release(&notice.release_key()),
            notice,
            Action::Restage,
            AppRef {
                guid: format!("app-{n}"),
                name: format!("app-{n}"),
                space_guid: format!("{org}-{space}"),
                space_name: space.into(),
                org_guid: org.into(),
                org_name: org.into(),
            },
            "droplet".into(),
            None,
            None,
        )
    }

    #[test]
    fn patterns_order_the_waves_and_labels_override_them() {
        let spec = WaveSpec::parse("*/dev*,*/test*;*/staging*;*").expect("spec");
        let jobs = vec![
            job("acme", "prod", 0),
            job("acme", "dev", 1),
            job("acme", "staging", 2),
            job("acme", "canary-prod", 3),
            job("acme", "test", 4),
        ];
        let labels = |space: &str| match space {
            "acme-canary-prod" => Some("0"),
            "acme-test" => Some("soon"),
            _ => None,
        };
        let a = assign(&jobs, &spec, labels);
        let names: Vec<(&str, usize)> = a.waves.iter().map(|w| (w.name.as_str(), w.jobs)).collect();
        assert_eq!(
            names,
            vec![
                ("restager.io/wave=0", 1),
                ("*/dev*,*/test*", 2),
                ("*/staging*", 1),
                ("*", 1)
            ]
        );
        assert_eq!(a.job_waves, vec![3, 1, 2, 0, 1]);
        assert_eq!(a.notes.len(), 1, "{:?}", a.notes);
        assert!(a.notes[0].contains("acme/test"), "{:?}", a.notes);
        assert_eq!(a.waves[1].spaces, vec!["acme/dev", "acme/test"]);
    }

    #[test]
    fn without_waves_everything_is_one_wave() {
        let jobs = vec![job("a", "x", 0), job("b", "y", 1)];
        let a = assign(&jobs, &WaveSpec::default(), |_| None);
        assert_eq!(a.waves.len(), 1);
        assert_eq!(a.waves[0].name, "all apps");
        assert_eq!(a.job_waves, vec![0, 0]);
        assert!(assign(&[], &WaveSpec::default(), |_| None).waves.is_empty());
    }
}
