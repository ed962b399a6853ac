//! The reasons an affected app is left alone. Shared by notice plans and the
//! sweep, so both explain a skip with the same words.

use crate::cf::{App, AppState, Droplet, DropletBuildpack, LifecycleType};
use crate::config::ScopeSettings;
use crate::domain::{Action, AppRef};

/// An app carrying this label with the value `true` is never restaged automatically.
pub const OPT_OUT_LABEL: &str = "restager.io/opt-out";

/// Out of scope or opted out: the operator's and the app owner's choices come first.
pub(crate) fn excluded(app: &App, place: &AppRef, scope: &ScopeSettings) -> Option<String> {
    if !scope.allows(&place.org_name, &place.space_name) {
        return Some(format!(
            "out of scope: org `{}` / space `{}` is excluded by RESTAGER_ORGS_ALLOW/DENY or RESTAGER_SPACES_ALLOW/DENY",
            place.org_name, place.space_name
        ));
    }
    let opted_out = app
        .metadata
        .labels
        .get(OPT_OUT_LABEL)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if opted_out {
        return Some(format!("opted out with the label {OPT_OUT_LABEL}=true"));
    }
    None
}

/// What stops `action` on this app right now, whatever the notice.
pub(crate) fn blocker(app: &App, droplet: Option<&Droplet>, action: Action) -> Option<String> {
    let docker = app.lifecycle_type() == Some(&LifecycleType::Docker)
        || droplet.is_some_and(|d| d.image.is_some());
    // Checked first: an app that never staged (`cf push --no-start`, a first
    // push that failed) is usually also STOPPED, and the missing droplet is
    // what its owner needs to hear.
    if droplet.is_none() && !docker {
        return Some(
            "not restageable: the app has no current droplet (it never staged, or its droplet was deleted)"
                .to_string(),
        );
    }
    if app.state != AppState::Started {
        return Some(format!(
            "app is {}: a deployment would start it; restage it yourself before starting it",
            app.state
        ));
    }
    if docker && action == Action::Restage {
        return Some(
            "docker app: restaging would pull the image tag again and could ship a different image"
                .to_string(),
        );
    }
    let Some(droplet) = droplet else {
        return Some("not restageable: the app has no current droplet".to_string());
    };
    if action == Action::Restage && !docker && droplet.package_guid().is_none() {
        return Some(
            "not restageable: no package behind the live droplet (pushed as a droplet?)"
                .to_string(),
        );
    }
    None
}

/// The droplet's entry for the admin buildpack `name`: matched on `name`,
/// then on `buildpack_name`, and on the short name (`ruby` for
/// `ruby_buildpack`) only when the droplet left `name` empty. A git-URL
/// buildpack (its `name` is the URL) never matches: restaging would not
/// pick up the admin buildpack's release.
pub(crate) fn droplet_buildpack<'a>(
    droplet: &'a Droplet,
    name: &str,
) -> Option<&'a DropletBuildpack> {
    if let Some(found) = droplet.buildpack(name) {
        return Some(found);
    }
    let short = name.strip_suffix("_buildpack")?;
    droplet
        .buildpacks
        .as_deref()?
        .iter()
        .find(|b| b.name.trim().is_empty() && b.buildpack_name.as_deref() == Some(short))
}

/// The stack a restage stages on: the configured one, else the droplet's.
pub(crate) fn stack_of<'a>(app: &'a App, droplet: Option<&'a Droplet>) -> Option<&'a str> {
    app.stack()
        .filter(|s| !s.is_empty())
        .or_else(|| droplet.and_then(|d| d.stack.as_deref()))
        .filter(|s| !s.is_empty())
}
