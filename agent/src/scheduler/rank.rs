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

/// The node's final score: the mean of the parts that apply.
pub fn combine(binpack: f64, anti_affinity: Option<f64>, reschedule_penalty: bool) -> f64 {
    let mut sum = binpack;
    let mut n = 1.0;
    if let Some(p) = anti_affinity {
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
        let base = combine(0.5, None, false);
        assert!(combine(0.5, anti_affinity(1, 4), false) < base);
        assert!(combine(0.5, None, true) < base);
    }
}
