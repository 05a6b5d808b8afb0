//! The newest log entries, in memory.
//!
//! The tail holds a contiguous run of the newest entries `[start, end)`, at most [`KEEP`] of them
//! and about [`KEEP_BYTES`] of commands (a plan of a thousand placements is a megabyte), which replication and the state machine read right after they were appended; they find them
//! here without a db transaction or a decode. The store writes every entry to redb before it
//! enters the tail, so an entry may leave it at any time. Entries below `start` are read from
//! redb; nothing at or above `end` exists, and nothing at or below the last purged index.

use super::types::{Entry, LogId};
use openraft::entry::RaftEntry;
use std::collections::VecDeque;

/// Entries that would leave a hole in the tail (or start below it): the tail mirrors the log, so
/// this is a bug in whoever appends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("append at {first} does not follow the log's tail [{start}, {end})")]
pub struct AppendGap {
    pub first: u64,
    pub start: u64,
    pub end: u64,
}

/// Entries kept in memory for readers.
pub const KEEP: usize = 512;
/// Commands kept in memory, by their encoded size before compression. The newest entry stays
/// whatever its size.
pub const KEEP_BYTES: usize = 32 << 20;

/// What an entry costs the tail.
fn entry_bytes(e: &Entry) -> usize {
    match &e.payload {
        openraft::EntryPayload::Normal(p) => p.plain_len(),
        _ => 0,
    }
}

#[derive(Debug, Default)]
pub struct LogTail {
    entries: VecDeque<Entry>,
    /// The sum of `entry_bytes` over `entries`.
    bytes: usize,
    /// Index of `entries[0]`, or where the next append goes when there are none.
    start: u64,
    last_purged: Option<LogId>,
}

/// A read split between the db and the tail.
#[derive(Debug)]
pub struct ReadPlan {
    /// Indexes to read from redb (all below the tail).
    pub from_db: std::ops::Range<u64>,
    pub from_tail: Vec<Entry>,
}

impl LogTail {
    /// The tail of a log whose newest stored entry has index `last_stored` (None: empty log).
    pub fn open(last_stored: Option<u64>, last_purged: Option<LogId>) -> LogTail {
        let after_purged = last_purged.as_ref().map_or(0, |l| l.index() + 1);
        LogTail {
            entries: VecDeque::new(),
            bytes: 0,
            start: last_stored.map_or(0, |i| i + 1).max(after_purged),
            last_purged,
        }
    }

    /// One past the newest entry.
    pub fn end(&self) -> u64 {
        self.start + self.entries.len() as u64
    }

    pub fn start(&self) -> u64 {
        self.start
    }

    pub fn last_purged(&self) -> Option<LogId> {
        self.last_purged
    }

    pub fn last(&self) -> Option<LogId> {
        self.entries.back().map(|e| e.log_id())
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends entries (already written to redb) that follow the newest one. An entry at an
    /// index already held replaces it and everything after it, as a truncation would. The
    /// oldest entries beyond [`KEEP`] leave memory.
    pub fn append(&mut self, entries: &[Entry]) -> Result<(), AppendGap> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let first = first.index();
        if self.entries.is_empty() && first >= self.start {
            // After a purge past the log, or on a fresh log, the next entry sets the start.
            self.start = first;
        } else if first < self.start || first > self.end() {
            return Err(AppendGap {
                first,
                start: self.start,
                end: self.end(),
            });
        } else {
            self.truncate(first);
        }
        self.bytes += entries.iter().map(entry_bytes).sum::<usize>();
        self.entries.extend(entries.iter().cloned());
        while self.entries.len() > KEEP || (self.bytes > KEEP_BYTES && self.entries.len() > 1) {
            self.pop_front();
            self.start += 1;
        }
        Ok(())
    }

    fn pop_front(&mut self) {
        if let Some(e) = self.entries.pop_front() {
            self.bytes -= entry_bytes(&e);
        }
    }

    /// Drops every entry at or above `from`.
    pub fn truncate(&mut self, from: u64) {
        let keep = from.saturating_sub(self.start) as usize;
        for e in self.entries.range(keep.min(self.entries.len())..) {
            self.bytes -= entry_bytes(e);
        }
        if from <= self.start {
            self.entries.clear();
            self.start = from;
        } else {
            self.entries.truncate(keep);
        }
    }

    /// Drops every entry at or below `upto`.
    pub fn purge(&mut self, upto: LogId) {
        let after = upto.index() + 1;
        while self.entries.front().is_some_and(|e| e.index() < after) {
            self.pop_front();
        }
        self.start = self.start.max(after);
        self.last_purged = Some(upto);
    }

    /// Where each index of `[from, to)` is found.
    pub fn plan_read(&self, from: u64, to: u64) -> ReadPlan {
        let after_purged = self.last_purged.as_ref().map_or(0, |l| l.index() + 1);
        let from = from.max(after_purged);
        let to = to.min(self.end());
        let db_to = to.min(self.start);
        let from_db = if from < db_to { from..db_to } else { 0..0 };
        let tail_from = from.max(self.start);
        let from_tail = if tail_from < to {
            let skip = (tail_from - self.start) as usize;
            let take = (to - tail_from) as usize;
            self.entries.iter().skip(skip).take(take).cloned().collect()
        } else {
            Vec::new()
        };
        ReadPlan { from_db, from_tail }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::raft::types::log_id_at as id;

    fn entries(from: u64, to: u64) -> Vec<Entry> {
        (from..to).map(|i| Entry::new_blank(id(i))).collect()
    }

    fn indexes(v: &[Entry]) -> Vec<u64> {
        v.iter().map(|e| e.index()).collect()
    }

    #[test]
    fn reads_split_between_db_and_tail() {
        let mut t = LogTail::open(Some(9), None);
        t.append(&entries(10, 15)).unwrap();
        let plan = t.plan_read(5, 100);
        assert_eq!(plan.from_db, 5..10);
        assert_eq!(indexes(&plan.from_tail), vec![10, 11, 12, 13, 14]);
        assert_eq!(t.last().map(|l| l.index()), Some(14));
    }

    #[test]
    fn truncation_ends_the_log_where_it_says() {
        // Scenario: entries 10..15 were appended; a new leader's entries replace 12 onwards, and
        // then the log is truncated below the tail: nothing from 8 on is read until appended
        // again.
        let mut t = LogTail::open(Some(9), None);
        t.append(&entries(10, 15)).unwrap();
        t.append(&entries(12, 13)).unwrap();
        assert_eq!(t.end(), 13);
        t.truncate(8);
        let plan = t.plan_read(0, 100);
        assert_eq!(plan.from_db, 0..8);
        assert!(plan.from_tail.is_empty());
        t.append(&entries(8, 10)).unwrap();
        assert_eq!(indexes(&t.plan_read(8, 100).from_tail), vec![8, 9]);
    }

    #[test]
    fn purged_entries_are_never_read_and_a_purge_past_the_log_sets_the_next_index() {
        let mut t = LogTail::open(Some(20), None);
        t.purge(id(30));
        assert_eq!(t.plan_read(0, 100).from_db, 0..0);
        assert_eq!(t.start(), 31);
        t.append(&entries(31, 33)).unwrap();
        assert_eq!(indexes(&t.plan_read(0, 100).from_tail), vec![31, 32]);
    }

    #[test]
    fn only_the_newest_entries_stay_in_memory() {
        let n = KEEP as u64 * 2;
        let mut t = LogTail::open(None, None);
        t.append(&entries(0, 100)).unwrap();
        assert_eq!(t.start(), 0, "under the limit everything stays");
        t.append(&entries(100, n)).unwrap();
        assert_eq!(t.start(), n - KEEP as u64);
        assert_eq!(t.plan_read(0, n).from_db, 0..t.start());
        assert_eq!(t.plan_read(0, n).from_tail.len(), KEEP);
    }

    #[test]
    fn big_commands_leave_memory_sooner_but_the_newest_always_stays() {
        // Scenario: commands of about 2 MB each (counted by their size before compression);
        // the tail keeps as many as fit in KEEP_BYTES, and a single command over the limit
        // still stays as the newest entry.
        let big = |i: u64, mb: usize| {
            let noise: String = (0..mb << 20)
                .map(|n| char::from(b'a' + ((n as u64 * 7919 + i) % 26) as u8))
                .collect();
            let cmd = crate::state::Command::AllocStop {
                alloc_id: noise,
                eval: Box::default(),
                now: 0,
            };
            let payload = super::super::payload::LogPayload::encode(cmd).expect("encode");
            Entry::new_normal(id(i), payload)
        };
        let mut t = LogTail::open(None, None);
        for i in 0..20 {
            t.append(&[big(i, 2)]).unwrap();
        }
        let one = t.bytes / t.entries.len();
        assert!(
            t.bytes <= KEEP_BYTES && t.bytes + one > KEEP_BYTES,
            "{} kept",
            t.bytes
        );
        assert_eq!(t.end(), 20);
        assert!(t.start() > 0);
        t.append(&[big(20, 40)]).unwrap();
        assert_eq!((t.start(), t.end()), (20, 21));
        t.truncate(20);
        assert_eq!(t.bytes, 0);
    }

    #[test]
    fn an_append_with_a_gap_is_refused() {
        let mut t = LogTail::open(None, None);
        t.append(&entries(0, 3)).unwrap();
        assert!(t.append(&entries(5, 6)).is_err());
        assert_eq!(t.end(), 3);
    }
}
