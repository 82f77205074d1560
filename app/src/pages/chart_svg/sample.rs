//! Thinning long series for drawing: an even, deterministic sample that keeps the first and last
//! point, and one that keeps the changed points a reviewer is looking for.
//!
//! A chart can hold hundreds of thousands of rows; the SVG stays small because no series draws
//! more than [`MAX_POINTS_PER_SERIES`] points. No randomness, so server and browser agree.

/// Drawn points per series (line, or entity in a scatter); longer series are sampled evenly.
pub const MAX_POINTS_PER_SERIES: usize = 500;

/// `cap` indices spread evenly over `0..n` (all of them when `n <= cap`), first and last included.
pub fn sample_indices(n: usize, cap: usize) -> Vec<usize> {
    if n <= cap {
        return (0..n).collect();
    }
    match cap {
        0 => Vec::new(),
        1 => vec![0],
        _ => {
            let (n1, c1) = ((n - 1) as u64, (cap - 1) as u64);
            (0..cap as u64).map(|i| (i * n1 / c1) as usize).collect()
        }
    }
}

/// At most `cap` of `items`, emphasised ones first (themselves sampled if too many), the rest
/// filled with an even sample of the others; original order kept.
pub fn sample_keep_emphasised<T>(items: Vec<T>, cap: usize, emphasised: impl Fn(&T) -> bool) -> Vec<T> {
    if items.len() <= cap {
        return items;
    }
    let (emph, plain): (Vec<usize>, Vec<usize>) = (0..items.len()).partition(|&i| emphasised(&items[i]));
    let mut keep: Vec<usize> = sample_indices(emph.len(), cap).into_iter().map(|i| emph[i]).collect();
    let room = cap - keep.len();
    keep.extend(sample_indices(plain.len(), room).into_iter().map(|i| plain[i]));
    keep.sort_unstable();
    let mut keep = keep.into_iter().peekable();
    items
        .into_iter()
        .enumerate()
        .filter_map(|(i, item)| {
            if keep.peek() == Some(&i) {
                keep.next();
                Some(item)
            } else {
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_points_per_series_by_even_sampling() {
        let idx = sample_indices(10_000, MAX_POINTS_PER_SERIES);
        assert_eq!(idx.len(), MAX_POINTS_PER_SERIES);
        assert_eq!((idx[0], *idx.last().unwrap()), (0, 9_999));
        assert!(idx.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sample_indices(3, 500), [0, 1, 2]);
        assert_eq!(sample_indices(5, 1), [0]);

        let n = 5_000;
        let kept = sample_keep_emphasised((0..n).collect::<Vec<_>>(), 500, |&i| i == 1234);
        assert_eq!(kept.len(), 500);
        assert!(kept.contains(&1234));
        assert!(kept.windows(2).all(|w| w[0] < w[1]));
    }
}
