//! Which GitHub repositories announce which releases.

use super::names::{NameRule, check_name};

/// What a repository's releases are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RepoTarget {
    /// A buildpack with this admin buildpack name.
    Buildpack(String),
    /// A root filesystem (stack) with this name.
    Stack(String),
    /// `bosh-linux-stemcell-builder`: the stemcell line is in each tag.
    StemcellBuilder,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Classified {
    Known(RepoTarget),
    /// `RESTAGER_REPO_MAP` names this repository, but with an unusable buildpack name.
    BadMapping(String),
    Unknown,
}

/// Maps `owner/repo` to what it releases. The operator's map wins, so a
/// custom or renamed buildpack can override the naming convention; the
/// conventions hold for any owner, so forks and mirrors work too.
pub(crate) fn classify(full_name: &str, repo_map: &[(String, String)]) -> Classified {
    if let Some((_, buildpack)) = repo_map
        .iter()
        .find(|(repo, _)| repo.trim().eq_ignore_ascii_case(full_name))
    {
        let buildpack = buildpack.trim();
        return match check_name("repo_map", buildpack, NameRule::Buildpack) {
            Ok(()) => Classified::Known(RepoTarget::Buildpack(buildpack.to_string())),
            Err(_) => Classified::BadMapping(buildpack.to_string()),
        };
    }
    let Some((_, repo)) = full_name.split_once('/') else {
        return Classified::Unknown;
    };
    // GitHub repository names are case-insensitive; CF names are lower case.
    let repo = repo.to_ascii_lowercase();
    if let Some(language) = repo.strip_suffix("-buildpack")
        && !language.is_empty()
        && language
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        // `dotnet-core-buildpack` is the admin buildpack `dotnet_core_buildpack`.
        return Classified::Known(RepoTarget::Buildpack(format!(
            "{}_buildpack",
            language.replace('-', "_")
        )));
    }
    if let Some(n) = repo.strip_prefix("cflinuxfs")
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
    {
        return Classified::Known(RepoTarget::Stack(repo));
    }
    if repo == "bosh-linux-stemcell-builder" {
        return Classified::Known(RepoTarget::StemcellBuilder);
    }
    Classified::Unknown
}

/// Splits a stemcell builder tag such as `ubuntu-jammy/v1.622` into the
/// stemcell line and version text. Older shapes (`stable-3586.100`, bare
/// `v621.1`) carry no line and yield `None`.
pub(crate) fn stemcell_tag(tag: &str) -> Option<(&str, &str)> {
    let (line, version) = tag.split_once('/')?;
    let version = version.strip_prefix('v')?;
    let line_ok = !line.is_empty()
        && line
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    (line_ok && !version.is_empty()).then_some((line, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(full_name: &str) -> Option<RepoTarget> {
        match classify(full_name, &[]) {
            Classified::Known(t) => Some(t),
            _ => None,
        }
    }

    #[test]
    fn conventions() {
        let bp = |s: &str| Some(RepoTarget::Buildpack(s.to_string()));
        assert_eq!(known("cloudfoundry/ruby-buildpack"), bp("ruby_buildpack"));
        assert_eq!(
            known("cloudfoundry/dotnet-core-buildpack"),
            bp("dotnet_core_buildpack")
        );
        assert_eq!(known("acme/Java-Buildpack"), bp("java_buildpack"));
        assert_eq!(
            known("cloudfoundry/cflinuxfs4"),
            Some(RepoTarget::Stack("cflinuxfs4".into()))
        );
        assert_eq!(
            known("cloudfoundry/cflinuxfs3"),
            Some(RepoTarget::Stack("cflinuxfs3".into()))
        );
        assert_eq!(
            known("cloudfoundry/bosh-linux-stemcell-builder"),
            Some(RepoTarget::StemcellBuilder)
        );
        for unknown in [
            "cloudfoundry/ruby-buildpack-release",
            "cloudfoundry/cflinuxfs4-release",
            "cloudfoundry/cflinuxfs",
            "cloudfoundry/-buildpack",
            "cloudfoundry/my.app-buildpack",
            "Codertocat/Hello-World",
            "no-slash",
        ] {
            assert_eq!(known(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn operator_map_overrides_and_extends() {
        let map = vec![
            ("acme/company-ruby".to_string(), "acme_ruby".to_string()),
            (
                "cloudfoundry/ruby-buildpack".to_string(),
                "ruby_v2".to_string(),
            ),
            ("acme/broken".to_string(), "not a name".to_string()),
        ];
        assert_eq!(
            classify("ACME/Company-Ruby", &map),
            Classified::Known(RepoTarget::Buildpack("acme_ruby".into()))
        );
        assert_eq!(
            classify("cloudfoundry/ruby-buildpack", &map),
            Classified::Known(RepoTarget::Buildpack("ruby_v2".into()))
        );
        assert_eq!(
            classify("acme/broken", &map),
            Classified::BadMapping("not a name".into())
        );
    }

    #[test]
    fn stemcell_tags() {
        assert_eq!(
            stemcell_tag("ubuntu-jammy/v1.622"),
            Some(("ubuntu-jammy", "1.622"))
        );
        assert_eq!(
            stemcell_tag("ubuntu-jammy-fips/v1.10"),
            Some(("ubuntu-jammy-fips", "1.10"))
        );
        assert_eq!(
            stemcell_tag("centos-7/v3763.61"),
            Some(("centos-7", "3763.61"))
        );
        for other in [
            "stable-3586.100",
            "v621.1",
            "ubuntu-jammy/1.622",
            "/v1.0",
            "ubuntu-jammy/v",
        ] {
            assert_eq!(stemcell_tag(other), None, "{other}");
        }
    }
}
