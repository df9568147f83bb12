//! Which history entries a change prunes. Pure.

use crate::layout::Version;

/// The versions to delete so that, once `new_version` is added to `retained` (the versions
/// currently in the history, any order), at most `retention` remain: the oldest go first, and
/// the new one always stays (a retention of 0 counts as 1).
pub fn versions_to_prune(
    retained: &[Version],
    new_version: Version,
    retention: u32,
) -> Vec<Version> {
    let keep = retention.max(1) as usize;
    let mut older: Vec<Version> = retained
        .iter()
        .copied()
        .filter(|version| *version != new_version)
        .collect();
    older.sort_unstable();
    older.dedup();
    let total = older.len() + 1;
    let excess = total.saturating_sub(keep);
    older.truncate(excess);
    older
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prunes_the_oldest_beyond_the_retention() {
        let cases: &[(&[Version], Version, u32, &[Version])] = &[
            (&[], 1, 100, &[]),
            (&[1, 2, 3], 4, 100, &[]),
            (&[1, 2, 3], 4, 4, &[]),
            (&[1, 2, 3], 4, 3, &[1]),
            (&[3, 1, 2], 4, 2, &[1, 2]),
            (&[1, 2, 3], 4, 1, &[1, 2, 3]),
            (&[1, 2, 3], 4, 0, &[1, 2, 3]),
            // Gaps (a lower retention earlier, or entries removed by hand) are fine.
            (&[5, 9, 12], 13, 2, &[5, 9]),
            // A retention lowered below what is there prunes down in one change.
            (
                &(1..=10).collect::<Vec<_>>(),
                11,
                3,
                &(1..=8).collect::<Vec<_>>(),
            ),
        ];
        for (retained, new_version, retention, expected) in cases {
            assert_eq!(
                versions_to_prune(retained, *new_version, *retention),
                expected.to_vec(),
                "{retained:?} + {new_version} keeping {retention}"
            );
        }
    }
}
