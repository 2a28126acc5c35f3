//! "Did you mean" suggestions by edit distance.

/// Shortest name that is completed to a longer candidate.
const MIN_PREFIX: usize = 4;

/// The candidate closest to `target`, if one is close enough to be a plausible typo.
///
/// A case-insensitive exact match always wins; otherwise the candidate with the smallest
/// edit distance is chosen when that distance is at most a third of the longer name
/// (and at least 1, at most 3). Failing that, a candidate that extends `target` (such as
/// `TimeoutSeconds` for `Timeout`) is suggested.
pub(super) fn closest<'a>(
    target: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let target_lower = target.to_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    let mut extension: Option<&'a str> = None;
    for candidate in candidates {
        if candidate == target {
            continue;
        }
        let candidate_lower = candidate.to_lowercase();
        if candidate_lower == target_lower {
            return Some(candidate);
        }
        if target.chars().count() >= MIN_PREFIX && candidate_lower.starts_with(&target_lower) {
            extension = extension.or(Some(candidate));
        }
        let distance = edit_distance(&target_lower, &candidate_lower);
        let longest = target.chars().count().max(candidate.chars().count());
        let limit = (longest / 3).clamp(1, 3);
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate).or(extension)
}

/// Edit distance over characters, counting an adjacent transposition as one edit
/// (optimal string alignment), so "Wiat" is one edit from "Wait".
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut table = vec![0usize; (a.len() + 1) * width];
    for (i, row) in table.chunks_mut(width).enumerate() {
        row[0] = i;
    }
    for (j, cell) in table.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[(i - 1) * width + j] + 1)
                .min(table[i * width + j - 1] + 1)
                .min(table[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[(i - 2) * width + j - 2] + 1);
            }
            table[i * width + j] = best;
        }
    }
    table[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
        assert_eq!(edit_distance("Wiat", "Wait"), 1);
        assert_eq!(edit_distance("Frist", "First"), 1);
    }

    #[test]
    fn suggests_close_names_only() {
        let names = ["Next", "End", "ResultPath", "InputPath"];
        assert_eq!(closest("Nxt", names), Some("Next"));
        assert_eq!(closest("resultpath", names), Some("ResultPath"));
        assert_eq!(closest("ResltPth", names), Some("ResultPath"));
        assert_eq!(closest("Banana", names), None);
        assert_eq!(closest("Next", names), None);
        assert_eq!(closest("Input", names), Some("InputPath"));
        assert_eq!(closest("End", ["EndOfTheWorld"]), None);
    }
}
