//! The annotation that names a space's (or org's) owners' Slack channel,
//! and what a channel id looks like.

/// A space (or org) annotation: the Slack channel id its owners read,
/// where its advance notices and per-app results are posted besides the
/// operators' `SLACK_CHANNEL`.
pub const SLACK_CHANNEL_ANNOTATION: &str = "restager.io/slack-channel";

/// The channel id in an annotation's value, or `None` when it is not one.
///
/// Slack's ids are upper-case letters and digits, public and private
/// channels starting with `C` or `G`. A `#name` is refused: Slack posts by
/// name only for some tokens and names change, so a channel is named by
/// the id its details pane shows.
pub fn slack_channel_id(raw: &str) -> Option<&str> {
    let id = raw.trim();
    let shaped = (9..=21).contains(&id.len())
        && id.starts_with(['C', 'G'])
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    shaped.then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_ids_are_slacks_and_nothing_else() {
        assert_eq!(slack_channel_id(" C0123456789 "), Some("C0123456789"));
        assert_eq!(slack_channel_id("G01ABCDEF23"), Some("G01ABCDEF23"));
        for bad in [
            "#prod",
            "prod",
            "c0123456789",
            "C012",
            "U0123456789",
            "C0123456789<script>",
            "",
        ] {
            assert_eq!(slack_channel_id(bad), None, "{bad}");
        }
    }
}
