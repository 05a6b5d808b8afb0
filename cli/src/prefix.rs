//! Ids given by unique prefix, as Nomad allows: the list endpoint filters by `?prefix=`, an exact
//! match wins, otherwise exactly one candidate must remain.

/// The outcome of matching a user-given id against the candidates a list endpoint returned.
#[derive(Debug, PartialEq)]
pub enum Match<T> {
    One(T),
    None,
    Many(Vec<T>),
}

/// Picks the item whose id equals `given`, else the single one whose id starts with it.
pub fn pick<T>(given: &str, items: Vec<T>, id_of: impl Fn(&T) -> &str) -> Match<T> {
    let mut candidates: Vec<T> = items
        .into_iter()
        .filter(|t| id_of(t).starts_with(given))
        .collect();
    if let Some(pos) = candidates.iter().position(|t| id_of(t) == given) {
        return Match::One(candidates.swap_remove(pos));
    }
    match candidates.len() {
        0 => Match::None,
        1 => Match::One(candidates.remove(0)),
        _ => Match::Many(candidates),
    }
}

/// Nomad refuses one-character identifiers for uuid-keyed objects (allocs, evals, nodes).
pub fn check_min_len(given: &str) -> anyhow::Result<()> {
    if given.chars().count() < 2 {
        anyhow::bail!("Identifier must contain at least two characters.");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn exact_match_wins_over_longer_ids() {
        let m = pick("web", ids(&["web", "web2"]), |s| s.as_str());
        assert_eq!(m, Match::One("web".to_string()));
    }

    #[test]
    fn unique_prefix_matches() {
        let m = pick("8ba8", ids(&["8ba85cef-1", "7c3b1e7f-2"]), |s| s.as_str());
        assert_eq!(m, Match::One("8ba85cef-1".to_string()));
    }

    #[test]
    fn ambiguous_and_missing_prefixes() {
        let m = pick("8b", ids(&["8ba85cef", "8bff0000"]), |s| s.as_str());
        assert_eq!(m, Match::Many(ids(&["8ba85cef", "8bff0000"])));
        assert_eq!(pick("zz", ids(&["8ba85cef"]), |s| s.as_str()), Match::None);
    }

    #[test]
    fn one_character_ids_are_refused() {
        assert!(check_min_len("a").is_err());
        assert!(check_min_len("ab").is_ok());
    }
}
