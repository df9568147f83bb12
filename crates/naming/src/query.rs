//! Which instances a query returns, and which one a client should call (pure).
//!
//! A query filters by health (passing only by default: enabled and UP), zone, tags and metadata.
//! With a protection threshold (Nacos's): when fewer than that fraction of the instances that
//! match the other filters are passing, all of them are returned, flagged, so the few healthy
//! ones are not overloaded by all the traffic. [`pick_weighted`] picks one by weight.

use std::time::Duration;

use rand::Rng;
use serde::Serialize;

use crate::instance::{HealthStatus, ServiceInstance};

/// Why a query could not be understood.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {parameter} {value:?}: {reason}")]
pub struct QueryError {
    pub parameter: &'static str,
    pub value: String,
    pub reason: String,
}

impl QueryError {
    fn new(parameter: &'static str, value: &str, reason: impl Into<String>) -> QueryError {
        QueryError {
            parameter,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// Which health states a query returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HealthFilter {
    /// Enabled and UP (the default).
    #[default]
    Passing,
    /// Every instance.
    Any,
    /// Instances in one state (enabled or not).
    Only(HealthStatus),
}

impl HealthFilter {
    /// `passing`, `any`, or a status (`up`, `down`, `out_of_service`, `starting`, `unknown`,
    /// `critical`).
    pub fn parse(text: &str) -> Result<HealthFilter, QueryError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "passing" | "" => Ok(HealthFilter::Passing),
            "any" | "all" => Ok(HealthFilter::Any),
            other => other
                .parse()
                .map(HealthFilter::Only)
                .map_err(|reason| QueryError::new("health", text, reason)),
        }
    }

    pub fn matches(self, instance: &ServiceInstance) -> bool {
        match self {
            HealthFilter::Passing => instance.is_passing(),
            HealthFilter::Any => true,
            HealthFilter::Only(status) => instance.health() == status,
        }
    }
}

/// A filtered query on one service's instances.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InstanceQuery {
    pub health: HealthFilter,
    /// Only instances in this zone.
    pub zone: Option<String>,
    /// Only instances that have every one of these tags.
    pub tags: Vec<String>,
    /// Only instances whose metadata has every one of these entries.
    pub metadata: Vec<(String, String)>,
    /// Fraction (0..=1) of passing instances under which all instances are returned instead of
    /// the passing ones; `None` or 0 turns protection off. Applies to the `passing` filter only.
    pub protection_threshold: Option<f64>,
}

impl InstanceQuery {
    /// Every instance, whatever its health.
    pub fn any() -> InstanceQuery {
        InstanceQuery {
            health: HealthFilter::Any,
            ..InstanceQuery::default()
        }
    }

    /// Reads the query parameters the HTTP API and CLI share: `health`, `zone`, `tag`
    /// (repeatable), `meta=key=value` (repeatable), `protect` (a fraction such as `0.5`, or a
    /// percentage such as `50%`). Other parameters are left to the caller.
    pub fn from_params<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<InstanceQuery, QueryError> {
        let mut query = InstanceQuery::default();
        for (key, value) in params {
            match key {
                "health" => query.health = HealthFilter::parse(value)?,
                "zone" => query.zone = Some(value.to_string()).filter(|zone| !zone.is_empty()),
                "tag" => query.tags.push(value.to_string()),
                "meta" => query.metadata.push(parse_meta(value)?),
                "protect" => query.protection_threshold = Some(parse_threshold(value)?),
                _ => {}
            }
        }
        Ok(query)
    }

    /// Whether `instance` passes every filter except health.
    pub fn matches_attributes(&self, instance: &ServiceInstance) -> bool {
        if let Some(zone) = &self.zone {
            if instance.zone().as_deref() != Some(zone.as_str()) {
                return false;
            }
        }
        if !self.tags.is_empty() {
            let tags = instance.tags();
            if !self.tags.iter().all(|wanted| tags.contains(wanted)) {
                return false;
            }
        }
        self.metadata
            .iter()
            .all(|(key, value)| instance.metadata_value(key).as_deref() == Some(value.as_str()))
    }

    /// Applies the query to `items` (anything that holds an instance), keeping their order.
    pub fn select<T: AsRef<ServiceInstance>>(&self, items: Vec<T>) -> Selection<T> {
        let matching: Vec<T> = items
            .into_iter()
            .filter(|item| self.matches_attributes(item.as_ref()))
            .collect();
        let matching_count = matching.len();
        let passing_count = matching
            .iter()
            .filter(|item| item.as_ref().is_passing())
            .count();
        let threshold = self.protection_threshold.unwrap_or(0.0);
        let protect = self.health == HealthFilter::Passing
            && threshold > 0.0
            && matching_count > 0
            && (passing_count as f64) < threshold * matching_count as f64;
        let instances = if protect {
            matching
        } else {
            matching
                .into_iter()
                .filter(|item| self.health.matches(item.as_ref()))
                .collect()
        };
        Selection {
            instances,
            matching: matching_count,
            passing: passing_count,
            protection_applied: protect,
        }
    }
}

/// What a query returned.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Selection<T> {
    pub instances: Vec<T>,
    /// How many instances matched the zone/tag/metadata filters, whatever their health.
    pub matching: usize,
    /// How many of those were passing.
    pub passing: usize,
    /// True when the protection threshold returned unhealthy instances too.
    pub protection_applied: bool,
}

/// Picks one item at random with probability proportional to its weight; items of weight 0 (or
/// a non-finite or negative weight) are never picked. `None` when nothing can be picked.
pub fn pick_weighted<'a, T, R: Rng + ?Sized>(
    items: &'a [T],
    weight: impl Fn(&T) -> f64,
    rng: &mut R,
) -> Option<&'a T> {
    let usable = |item: &T| {
        let w = weight(item);
        if w.is_finite() && w > 0.0 {
            w
        } else {
            0.0
        }
    };
    let total: f64 = items.iter().map(usable).sum();
    if total <= 0.0 {
        return None;
    }
    let mut point = rng.gen_range(0.0..total);
    let mut last = None;
    for item in items {
        let w = usable(item);
        if w == 0.0 {
            continue;
        }
        if point < w {
            return Some(item);
        }
        point -= w;
        last = Some(item);
    }
    // Rounding can leave `point` a hair above the last weight; that point belongs to it.
    last
}

/// Picks an instance by [`ServiceInstance::weight`].
pub fn pick<'a, T: AsRef<ServiceInstance>, R: Rng + ?Sized>(
    items: &'a [T],
    rng: &mut R,
) -> Option<&'a T> {
    pick_weighted(items, |item| item.as_ref().weight(), rng)
}

/// `key=value` of a metadata filter.
pub fn parse_meta(text: &str) -> Result<(String, String), QueryError> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(QueryError::new("meta", text, "expected key=value")),
    }
}

/// A protection threshold: a fraction `0..=1` or a percentage `0%..=100%`.
pub fn parse_threshold(text: &str) -> Result<f64, QueryError> {
    let trimmed = text.trim();
    let (number, scale) = match trimmed.strip_suffix('%') {
        Some(percent) => (percent, 100.0),
        None => (trimmed, 1.0),
    };
    match number.trim().parse::<f64>() {
        Ok(value) if value.is_finite() && (0.0..=1.0).contains(&(value / scale)) => {
            Ok(value / scale)
        }
        _ => Err(QueryError::new(
            "protect",
            text,
            "expected a fraction from 0 to 1 or a percentage from 0% to 100%",
        )),
    }
}

/// A Consul-style duration: `30s`, `5m`, `250ms`, `1h`, or a plain number of seconds.
pub fn parse_duration(parameter: &'static str, text: &str) -> Result<Duration, QueryError> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(QueryError::new(
                parameter,
                text,
                "expected a duration such as 30s, 5m, 250ms",
            ))
        }
    };
    match number.parse::<f64>() {
        Ok(value) if value.is_finite() && value * scale <= 86_400.0 => {
            Ok(Duration::from_secs_f64(value * scale))
        }
        _ => Err(QueryError::new(
            parameter,
            text,
            "expected a duration such as 30s, 5m, 250ms (at most a day)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    fn instance(id: &str, health: HealthStatus) -> ServiceInstance {
        ServiceInstance::new("web", id)
            .with_address("10.0.0.1")
            .with_port(80)
            .with_health(health)
    }

    fn ids(selection: &Selection<ServiceInstance>) -> Vec<&str> {
        selection.instances.iter().map(|i| i.id.as_str()).collect()
    }

    #[test]
    fn passing_only_by_default_and_health_filters() {
        let mut disabled = instance("disabled", HealthStatus::Up);
        disabled.enabled = false;
        let all = vec![
            instance("up", HealthStatus::Up),
            instance("down", HealthStatus::Down),
            instance("oos", HealthStatus::OutOfService),
            disabled,
            ServiceInstance::new("web", "no-status"),
        ];
        let default = InstanceQuery::default().select(all.clone());
        assert_eq!(ids(&default), vec!["up", "no-status"]);
        assert_eq!((default.matching, default.passing), (5, 2));
        assert!(!default.protection_applied);

        let any = InstanceQuery::any().select(all.clone());
        assert_eq!(any.instances.len(), 5);

        let down = InstanceQuery::from_params([("health", "critical")])
            .unwrap()
            .select(all.clone());
        assert_eq!(ids(&down), vec!["down"]);
        let oos = InstanceQuery::from_params([("health", "OUT_OF_SERVICE")])
            .unwrap()
            .select(all);
        assert_eq!(ids(&oos), vec!["oos"]);
    }

    #[test]
    fn zone_tag_and_metadata_filters_all_apply() {
        let all = vec![
            instance("a", HealthStatus::Up)
                .with_zone("eu")
                .with_tags(&["canary", "v2"])
                .with_metadata("team", "core"),
            instance("b", HealthStatus::Up)
                .with_zone("eu")
                .with_tags(&["v2"]),
            instance("c", HealthStatus::Up).with_zone("us"),
        ];
        let query = |params: &[(&str, &str)]| {
            InstanceQuery::from_params(params.iter().copied())
                .unwrap()
                .select(all.clone())
        };
        assert_eq!(ids(&query(&[("zone", "eu")])), vec!["a", "b"]);
        assert_eq!(ids(&query(&[("tag", "v2")])), vec!["a", "b"]);
        assert_eq!(ids(&query(&[("tag", "v2"), ("tag", "canary")])), vec!["a"]);
        assert_eq!(ids(&query(&[("meta", "team=core")])), vec!["a"]);
        assert_eq!(ids(&query(&[("meta", "team=edge")])), Vec::<&str>::new());
        assert_eq!(
            ids(&query(&[("meta", "instance_status=UP"), ("zone", "us")])),
            vec!["c"]
        );
        assert_eq!(ids(&query(&[("zone", "")])), vec!["a", "b", "c"]);
    }

    #[test]
    fn protection_threshold_returns_all_flagged_when_too_few_pass() {
        // 1 of 4 passing = 25%.
        let all = vec![
            instance("a", HealthStatus::Up),
            instance("b", HealthStatus::Down),
            instance("c", HealthStatus::Down),
            instance("d", HealthStatus::Starting),
        ];
        let with = |protect: &str| {
            InstanceQuery::from_params([("protect", protect)])
                .unwrap()
                .select(all.clone())
        };
        let protected = with("0.5");
        assert!(protected.protection_applied);
        assert_eq!(ids(&protected), vec!["a", "b", "c", "d"]);
        assert_eq!((protected.matching, protected.passing), (4, 1));

        let at_threshold = with("25%");
        assert!(
            !at_threshold.protection_applied,
            "25% is not fewer than 25%"
        );
        assert_eq!(ids(&at_threshold), vec!["a"]);

        assert!(!with("0").protection_applied, "0 turns protection off");

        // Only the passing filter is protected; an explicit health query is answered as asked.
        let explicit = InstanceQuery {
            health: HealthFilter::Only(HealthStatus::Down),
            protection_threshold: Some(0.9),
            ..InstanceQuery::default()
        }
        .select(all.clone());
        assert!(!explicit.protection_applied);
        assert_eq!(ids(&explicit), vec!["b", "c"]);

        // Protection counts only instances that match the other filters.
        let zoned = vec![
            instance("eu-up", HealthStatus::Up).with_zone("eu"),
            instance("us-down", HealthStatus::Down).with_zone("us"),
            instance("us-down2", HealthStatus::Down).with_zone("us"),
        ];
        let eu = InstanceQuery::from_params([("zone", "eu"), ("protect", "0.6")])
            .unwrap()
            .select(zoned);
        assert!(!eu.protection_applied);
        assert_eq!(ids(&eu), vec!["eu-up"]);

        let none = InstanceQuery::from_params([("protect", "1")])
            .unwrap()
            .select(Vec::<ServiceInstance>::new());
        assert!(!none.protection_applied);
    }

    #[test]
    fn ten_thousand_picks_follow_the_weights() {
        let all = vec![
            instance("w1", HealthStatus::Up).with_weight(1.0),
            instance("w3", HealthStatus::Up).with_weight(3.0),
            instance("w6", HealthStatus::Up).with_weight(6.0),
            instance("w0", HealthStatus::Up).with_weight(0.0),
        ];
        let mut rng = StdRng::seed_from_u64(20240601);
        let mut counts = [0usize; 4];
        for _ in 0..10_000 {
            let picked = pick(&all, &mut rng).expect("something to pick");
            let index = all.iter().position(|i| i.id == picked.id).unwrap();
            counts[index] += 1;
        }
        assert_eq!(counts[3], 0, "weight 0 is never picked");
        for (index, expected) in [(0, 1_000.0), (1, 3_000.0), (2, 6_000.0)] {
            let seen = counts[index] as f64;
            assert!(
                (seen - expected).abs() / expected < 0.05,
                "{}: {seen} picks, expected {expected} within 5% ({counts:?})",
                all[index].id
            );
        }
    }

    #[test]
    fn nothing_to_pick_when_all_weights_are_zero_or_empty() {
        let mut rng = StdRng::seed_from_u64(1);
        let zero = vec![instance("a", HealthStatus::Up).with_weight(0.0)];
        assert!(pick(&zero, &mut rng).is_none());
        assert!(pick(&Vec::<ServiceInstance>::new(), &mut rng).is_none());
        let single = vec![instance("only", HealthStatus::Up)];
        assert_eq!(pick(&single, &mut rng).unwrap().id, "only");
        // Non-finite weights from a closure are treated as 0.
        assert!(pick_weighted(&[1, 2], |_| f64::NAN, &mut rng).is_none());
    }

    #[test]
    fn parameters_parse_or_fail_clearly() {
        assert_eq!(parse_threshold("0.5"), Ok(0.5));
        assert_eq!(parse_threshold("50%"), Ok(0.5));
        for bad in ["1.5", "150%", "-1", "half", ""] {
            assert!(parse_threshold(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_meta("k=v=w"), Ok(("k".into(), "v=w".into())));
        assert_eq!(parse_meta("k="), Ok(("k".into(), "".into())));
        assert!(parse_meta("=v").is_err());
        assert!(parse_meta("kv").is_err());
        let err = InstanceQuery::from_params([("health", "sleepy")]).unwrap_err();
        assert_eq!(err.parameter, "health");
        assert!(err.to_string().contains("sleepy"), "{err}");

        assert_eq!(parse_duration("wait", "30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("wait", "5m"), Ok(Duration::from_secs(300)));
        assert_eq!(
            parse_duration("wait", "250ms"),
            Ok(Duration::from_millis(250))
        );
        assert_eq!(parse_duration("wait", "2"), Ok(Duration::from_secs(2)));
        for bad in ["", "s", "10x", "-1s", "1e9s", "2d"] {
            assert!(parse_duration("wait", bad).is_err(), "{bad}");
        }
    }
}
