//! Query-string handling shared by list endpoints: CC's comma-separated
//! filters, `page`/`per_page` bounds, `order_by`, `label_selector`, and
//! pagination links that keep the filters.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::error::ApiError;
use crate::model::Labels;

pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub(crate) fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let pairs = match raw {
            Some(raw) if !raw.is_empty() => {
                serde_urlencoded::from_str::<Vec<(String, String)>>(raw)
                    .map_err(|e| ApiError::bad_query(format!("malformed query string: {e}")))?
            }
            _ => Vec::new(),
        };
        Ok(Self { pairs })
    }

    /// CC rejects parameters an endpoint does not know.
    pub(crate) fn allow(&self, allowed: &[&str]) -> Result<(), ApiError> {
        let names = self
            .pairs
            .iter()
            // Rack nests `created_ats[gt]=` under `created_ats`.
            .map(|(k, _)| k.split('[').next().unwrap_or(k))
            .filter(|k| !["page", "per_page"].contains(k));
        reject_unknown_params(names, allowed)
    }

    /// [`allow`](Self::allow) for a list endpoint that takes, after its
    /// `own` filters, the selector, ordering and timestamp filters most
    /// lists share (in that order, as CC names them in its 400).
    pub(crate) fn allow_with_list_params(&self, own: &[&str]) -> Result<(), ApiError> {
        const LIST_PARAMS: [&str; 4] = ["label_selector", "order_by", "created_ats", "updated_ats"];
        let allowed: Vec<&str> = own.iter().copied().chain(LIST_PARAMS).collect();
        self.allow(&allowed)
    }

    /// Like [`allow`](Self::allow) for endpoints without paging (a show).
    pub(crate) fn allow_only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        reject_unknown_params(self.keys(), allowed)
    }

    /// Every parameter name, as sent.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(k, _)| k.as_str())
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A comma-separated filter; `None` when absent.
    pub(crate) fn list(&self, key: &str) -> Option<Vec<String>> {
        self.get(key).map(|v| {
            v.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
    }

    /// `(page, per_page)`, 1-based, with CC's bounds and defaults.
    pub(crate) fn page(&self, max_per_page: usize) -> Result<(usize, usize), ApiError> {
        let page = match self.get("page") {
            None => 1,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|p| *p >= 1)
                .ok_or_else(|| ApiError::bad_query("Page must be a positive integer"))?,
        };
        let per_page = match self.get("per_page") {
            None => 50,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|p| (1..=max_per_page).contains(p))
                .ok_or_else(|| {
                    ApiError::bad_query(format!("Per page must be between 1 and {max_per_page}"))
                })?,
        };
        Ok((page, per_page))
    }

    /// `(field, descending)` from `order_by`, restricted to `allowed`.
    pub(crate) fn order(
        &self,
        allowed: &[&str],
        default: &str,
    ) -> Result<(String, bool), ApiError> {
        let raw = self.get("order_by").unwrap_or(default);
        let (field, desc) = match raw.strip_prefix('-') {
            Some(f) => (f, true),
            None => (raw.strip_prefix('+').unwrap_or(raw), false),
        };
        if !allowed.contains(&field) {
            let valid: Vec<String> = allowed.iter().map(|k| format!("'{k}'")).collect();
            return Err(ApiError::bad_query(format!(
                "Order by can only be: {}",
                valid.join(", ")
            )));
        }
        Ok((field.to_owned(), desc))
    }

    pub(crate) fn label_selector(&self) -> Result<Option<LabelSelector>, ApiError> {
        match self.get("label_selector") {
            None => Ok(None),
            Some(raw) => LabelSelector::parse(raw).map(Some),
        }
    }

    /// A timestamp filter (`created_ats`, `updated_ats`) as ListMessage
    /// validates it with TimestampValidator (app/messages/validators.rb):
    /// `key=a,b` (equality, any of them) or `key[lt|lte|gt|gte]=t` (one value
    /// each); every timestamp whole-second UTC `YYYY-MM-DDThh:mm:ssZ`. Each
    /// failed check is one message, prefixed with the humanized attribute
    /// (`label`, e.g. "Created ats") as ActiveModel's full_messages do.
    pub(crate) fn timestamps(
        &self,
        key: &str,
        label: &str,
    ) -> Result<Option<TimeFilter>, Vec<String>> {
        let mut errors = Vec::new();
        let mut filter = TimeFilter::default();
        let mut seen = false;
        let bad_format = || {
            format!(
                "{label} has an invalid timestamp format. Timestamps should be formatted as 'YYYY-MM-DDThh:mm:ssZ'"
            )
        };
        for (k, v) in &self.pairs {
            if k == key {
                seen = true;
                // BaseMessage.to_array! splits on commas.
                for t in v.split(',') {
                    match parse_timestamp(t) {
                        Some(t) => filter.equals.push(t),
                        None => errors.push(bad_format()),
                    }
                }
            } else if let Some(op) = k
                .strip_prefix(key)
                .and_then(|rest| rest.strip_prefix('['))
                .and_then(|rest| rest.strip_suffix(']'))
            {
                seen = true;
                let slot = match op {
                    "lt" => Some(&mut filter.lt),
                    "lte" => Some(&mut filter.lte),
                    "gt" => Some(&mut filter.gt),
                    "gte" => Some(&mut filter.gte),
                    _ => {
                        errors.push(format!("{label} Invalid relational operator: '{op}'"));
                        None
                    }
                };
                if v.contains(',') {
                    errors.push(format!(
                        "{label} only accepts one value when using a relational operator"
                    ));
                    continue;
                }
                match parse_timestamp(v) {
                    Some(t) => {
                        if let Some(slot) = slot {
                            *slot = Some(t);
                        }
                    }
                    None => errors.push(bad_format()),
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(seen.then_some(filter))
    }

    /// `created_ats` and `updated_ats` together (ListMessage validates both;
    /// every failure joined into one 400).
    pub(crate) fn time_filters(&self) -> Result<TimeFilters, ApiError> {
        let mut errors = Vec::new();
        let created = self
            .timestamps("created_ats", "Created ats")
            .unwrap_or_else(|e| {
                errors.extend(e);
                None
            });
        let updated = self
            .timestamps("updated_ats", "Updated ats")
            .unwrap_or_else(|e| {
                errors.extend(e);
                None
            });
        if errors.is_empty() {
            Ok(TimeFilters { created, updated })
        } else {
            Err(ApiError::bad_query(errors.join(", ")))
        }
    }

    /// The filters to carry into pagination links (everything but paging).
    fn carried(&self) -> Vec<(&str, &str)> {
        self.pairs
            .iter()
            .filter(|(k, _)| k != "page" && k != "per_page")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// CC's 400 naming every parameter `names` holds that `allowed` does not.
fn reject_unknown_params<'a>(
    names: impl Iterator<Item = &'a str>,
    allowed: &[&str],
) -> Result<(), ApiError> {
    let unknown: Vec<String> = names
        .filter(|k| !allowed.contains(k))
        .map(|k| format!("'{k}'"))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let valid: Vec<String> = allowed.iter().map(|k| format!("'{k}'")).collect();
    Err(ApiError::bad_query(format!(
        "Unknown query parameter(s): {}. Valid parameters are: {}",
        unknown.join(", "),
        valid.join(", ")
    )))
}

/// `\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z` (TimestampValidator#opinionated_iso_8601).
fn parse_timestamp(t: &str) -> Option<DateTime<Utc>> {
    let b = t.as_bytes();
    let shape = b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !shape {
        return None;
    }
    chrono::NaiveDateTime::parse_from_str(&t[..19], "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|n| n.and_utc())
}

/// A parsed timestamp filter, applied as BaseListFetcher#advanced_filtering
/// (app/fetchers/base_list_fetcher.rb) does: `lt t` is `< t`, `gte t` is
/// `>= t`, while `lte t` and `gt t` compare with `t + 0.999999 s` (the whole
/// second), and an equality matches anywhere within the second.
#[derive(Debug, Default, Clone)]
pub(crate) struct TimeFilter {
    pub equals: Vec<DateTime<Utc>>,
    pub lt: Option<DateTime<Utc>>,
    pub lte: Option<DateTime<Utc>>,
    pub gt: Option<DateTime<Utc>>,
    pub gte: Option<DateTime<Utc>>,
}

/// A list's `created_ats` and `updated_ats` filters.
pub(crate) struct TimeFilters {
    pub created: Option<TimeFilter>,
    pub updated: Option<TimeFilter>,
}

impl TimeFilters {
    /// BaseListFetcher#advanced_filtering on a row's two timestamps.
    pub(crate) fn matches(&self, created_at: DateTime<Utc>, updated_at: DateTime<Utc>) -> bool {
        self.created.as_ref().is_none_or(|f| f.matches(created_at))
            && self.updated.as_ref().is_none_or(|f| f.matches(updated_at))
    }
}

impl TimeFilter {
    pub(crate) fn matches(&self, t: DateTime<Utc>) -> bool {
        let second = chrono::Duration::microseconds(999_999);
        (self.equals.is_empty() || self.equals.iter().any(|e| t >= *e && t <= *e + second))
            && self.lt.is_none_or(|x| t < x)
            && self.lte.is_none_or(|x| t <= x + second)
            && self.gt.is_none_or(|x| t > x + second)
            && self.gte.is_none_or(|x| t >= x)
    }
}

/// Kubernetes-style label requirements, as CC accepts them.
pub(crate) struct LabelSelector {
    reqs: Vec<Requirement>,
}

enum Requirement {
    Exists(String),
    NotExists(String),
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

impl LabelSelector {
    pub(crate) fn parse(raw: &str) -> Result<Self, ApiError> {
        let invalid = || ApiError::bad_query("Invalid label_selector value");
        if raw.trim().is_empty() {
            return Err(ApiError::bad_query("Missing label_selector value"));
        }
        let mut parts = Vec::new();
        let mut depth = 0i32;
        let mut current = String::new();
        for c in raw.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(std::mem::take(&mut current));
                    continue;
                }
                _ => {}
            }
            current.push(c);
        }
        parts.push(current);
        let mut reqs = Vec::new();
        for part in parts {
            let part = part.trim();
            if part.is_empty() {
                return Err(invalid());
            }
            let set = |rest: &str| -> Option<Vec<String>> {
                let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
                Some(inner.split(',').map(|s| s.trim().to_owned()).collect())
            };
            let req = if let Some(key) = part.strip_prefix('!') {
                Requirement::NotExists(key.trim().to_owned())
            } else if let Some((k, v)) = part.split_once(" notin ") {
                Requirement::NotIn(k.trim().to_owned(), set(v).ok_or_else(invalid)?)
            } else if let Some((k, v)) = part.split_once(" in ") {
                Requirement::In(k.trim().to_owned(), set(v).ok_or_else(invalid)?)
            } else if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEquals(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some((k, v)) = part.split_once("==") {
                Requirement::Equals(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some((k, v)) = part.split_once('=') {
                Requirement::Equals(k.trim().to_owned(), v.trim().to_owned())
            } else {
                Requirement::Exists(part.to_owned())
            };
            reqs.push(req);
        }
        Ok(Self { reqs })
    }

    pub(crate) fn matches(&self, labels: &Labels) -> bool {
        self.reqs.iter().all(|r| match r {
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
        })
    }
}

/// Whether `value` passes an optional list filter.
pub(crate) fn passes(filter: &Option<Vec<String>>, value: &str) -> bool {
    filter.as_ref().is_none_or(|f| f.iter().any(|v| v == value))
}

/// Stable sort helper: descending flips the comparison, ties keep insertion order.
pub(crate) fn directed(ord: Ordering, desc: bool) -> Ordering {
    if desc { ord.reverse() } else { ord }
}

/// Sorts by `updated_at` when `order_by` chose it, else by `created_at`
/// (the only two fields most list endpoints accept); `stamps` gives a row's
/// `(created_at, updated_at)`.
pub(crate) fn sort_by_time<T>(
    list: &mut [&T],
    field: &str,
    desc: bool,
    stamps: impl Fn(&T) -> (DateTime<Utc>, DateTime<Utc>),
) {
    list.sort_by(|a, b| {
        let ((a_created, a_updated), (b_created, b_updated)) = (stamps(a), stamps(b));
        let ord = if field == "updated_at" {
            a_updated.cmp(&b_updated)
        } else {
            a_created.cmp(&b_created)
        };
        directed(ord, desc)
    });
}

/// A page of already-filtered, already-sorted resources.
pub(crate) struct Paged<'a> {
    pub base: &'a str,
    pub path: &'a str,
    pub query: &'a Query,
    pub page: usize,
    pub per_page: usize,
    pub total: usize,
}

impl Paged<'_> {
    /// The index range of this page within the full result.
    pub(crate) fn range(&self) -> std::ops::Range<usize> {
        let start = (self.page - 1)
            .saturating_mul(self.per_page)
            .min(self.total);
        let end = start.saturating_add(self.per_page).min(self.total);
        start..end
    }

    /// The filters plus `page` and `per_page`, encoded like Rails'
    /// `Hash#to_query` (sorted by key) as PaginationPresenter builds them.
    fn href(&self, page: usize) -> Value {
        let page = page.to_string();
        let per_page = self.per_page.to_string();
        let mut pairs = self.query.carried();
        pairs.push(("page", &page));
        pairs.push(("per_page", &per_page));
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            ser.append_pair(k, v);
        }
        json!({"href": format!("{}{}?{}", self.base, self.path, ser.finish())})
    }

    /// CC's pagination object (PaginatedListPresenter#present_pagination_hash,
    /// app/presenters/v3/paginated_list_presenter.rb):
    /// an empty result still has one (empty) page.
    pub(crate) fn pagination(&self) -> Value {
        let total_pages = self.total.div_ceil(self.per_page).max(1);
        let last = total_pages;
        json!({
            "total_results": self.total,
            "total_pages": total_pages,
            "first": self.href(1),
            "last": self.href(last),
            "next": if self.page < total_pages { self.href(self.page + 1) } else { Value::Null },
            "previous": if self.page > 1 { self.href(self.page - 1) } else { Value::Null },
        })
    }
}
