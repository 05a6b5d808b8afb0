//! Scoring a feasible node: bin-packing (prefer the node that ends up fullest, so whole nodes stay
//! free for big jobs) combined with job anti-affinity (spread one job's allocations) and a penalty
//! for the node a failed allocation is being rescheduled away from. Scores are averaged, as Nomad's
//! score normalization does, and lie in -1..=1.

/// Nomad's best-fit score: 20 - (10^freeCpu + 10^freeMem), where free* are the fractions left free
/// after placement; it ranges 0..=18, divided by 18 here to land in 0..=1.
pub fn binpack(cpu_used: i64, cpu_total: i64, mem_used: i64, mem_total: i64) -> f64 {
    let free = |used: i64, total: i64| {
        if total <= 0 {
            0.0
        } else {
            (1.0 - used as f64 / total as f64).clamp(0.0, 1.0)
        }
    };
    let total = 10f64.powf(free(cpu_used, cpu_total)) + 10f64.powf(free(mem_used, mem_total));
    ((20.0 - total) / 18.0).clamp(0.0, 1.0)
}

/// Penalty for placing another allocation of the same job and group on a node that already has
/// `collisions` of them: -(collisions + 1) / desired count. None when there are no collisions
/// (the score then does not take part in the average, as in Nomad).
pub fn anti_affinity(collisions: u32, desired: u32) -> Option<f64> {
    if collisions == 0 {
        return None;
    }
    Some(-(f64::from(collisions) + 1.0) / f64::from(desired.max(1)))
}

/// Nomad's node affinity: the weights of the affinities the node matches over the sum of all
/// weights' magnitudes, in -1..=1. None when nothing matches (or there are no affinities).
pub fn affinity(matched: i32, total_magnitude: i32) -> Option<f64> {
    (matched != 0 && total_magnitude > 0).then(|| f64::from(matched) / f64::from(total_magnitude))
}

/// One spread's boost for a node whose attribute value holds `used` of the group against a
/// `desired` share: positive below the share, negative above it, -1 for a value that should
/// get nothing or a node without the attribute.
pub fn spread_boost(used: u32, desired: Option<f64>) -> f64 {
    match desired {
        Some(d) if d > 0.0 => ((d - f64::from(used)) / d).clamp(-1.0, 1.0),
        _ => -1.0,
    }
}

/// The node's final score: the mean of the parts that apply.
pub fn combine(
    binpack: f64,
    anti_affinity: Option<f64>,
    reschedule_penalty: bool,
    preferences: &[Option<f64>],
) -> f64 {
    let mut sum = binpack;
    let mut n = 1.0;
    for p in anti_affinity.iter().chain(preferences.iter().flatten()) {
        sum += p;
        n += 1.0;
    }
    if reschedule_penalty {
        sum -= 1.0;
        n += 1.0;
    }
    sum / n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuller_node_scores_higher() {
        let empty = binpack(100, 4000, 100, 8192);
        let half = binpack(2100, 4000, 4196, 8192);
        let full = binpack(4000, 4000, 8192, 8192);
        assert!(empty < half && half < full, "{empty} {half} {full}");
        assert!((full - 1.0).abs() < 1e-9);
        assert!(empty >= 0.0);
    }

    #[test]
    fn anti_affinity_and_penalty_lower_the_score() {
        assert_eq!(anti_affinity(0, 3), None);
        assert_eq!(anti_affinity(2, 3), Some(-1.0));
        let base = combine(0.5, None, false, &[]);
        assert!(combine(0.5, anti_affinity(1, 4), false, &[]) < base);
        assert!(combine(0.5, None, true, &[]) < base);
    }

    #[test]
    fn affinity_and_spread_move_the_score() {
        let base = combine(0.5, None, false, &[]);
        assert!(combine(0.5, None, false, &[affinity(50, 50)]) > base);
        assert!(combine(0.5, None, false, &[affinity(-50, 100)]) < base);
        assert_eq!(affinity(0, 100), None);
        assert_eq!(spread_boost(0, Some(2.0)), 1.0);
        assert_eq!(spread_boost(3, Some(2.0)), -0.5);
        assert_eq!(spread_boost(0, None), -1.0);
    }
}
