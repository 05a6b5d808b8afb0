//! `alloc logs ID [TASK]`: print (or follow) a task's stdout or stderr.

use crate::commands::{alloc_status, lookup};
use anyhow::{anyhow, bail, Context, Result};
use api::client::{Client, LogKind, LogOrigin};
use std::io::{Read, Write};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// An allocation id or unique prefix
    pub alloc: String,
    /// The task; may be left out when the group has one task
    pub task: Option<String>,
    /// Show stderr instead of stdout
    #[arg(long)]
    pub stderr: bool,
    #[command(flatten)]
    pub tail: TailFlags,
    #[arg(long)]
    pub verbose: bool,
}

/// `-f`, `-tail`, `-n` and `-c`, as `alloc logs` and `alloc fs` take them.
#[derive(clap::Args, Debug, Clone)]
pub struct TailFlags {
    /// Keep printing as the task writes
    #[arg(short = 'f', long = "follow")]
    pub follow: bool,
    /// Start from the end: the last -n lines (default 10) or -c bytes
    #[arg(long)]
    pub tail: bool,
    /// With -tail, how many lines
    #[arg(short = 'n')]
    pub lines: Option<usize>,
    /// With -tail, how many bytes
    #[arg(short = 'c')]
    pub bytes: Option<u64>,
}

/// Guess at a line's length when asking for the last N lines; doubled until enough arrive.
const BYTES_PER_LINE: u64 = 120;

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let alloc = lookup::alloc(client, &args.alloc, args.verbose)?;
    let tasks = alloc_status::task_names(&alloc);
    let task = pick_task(&alloc.id, args.task.as_deref(), &tasks, args.verbose)?;
    let kind = if args.stderr {
        LogKind::Stderr
    } else {
        LogKind::Stdout
    };
    let mut stdout = std::io::stdout().lock();
    let open = |follow, origin, offset| {
        client
            .logs(&alloc.id, &task, kind, follow, origin, offset)
            .map_err(|e| anyhow!("Error reading {} logs: {e}", kind.as_str()))
    };
    if args.tail.tail && args.tail.bytes.is_none() {
        let n = args.tail.lines.unwrap_or(10);
        let tail = last_lines(|offset| read_all(open(false, LogOrigin::End, offset)?), n)?;
        stdout.write_all(&tail).context("Error writing logs")?;
        stdout.flush().ok();
        if !args.tail.follow {
            return Ok(0);
        }
        copy(open(true, LogOrigin::End, 0)?, &mut stdout)?;
        return Ok(0);
    }
    let (origin, offset) = match (args.tail.tail, args.tail.bytes) {
        (true, Some(c)) => (LogOrigin::End, c),
        _ => (LogOrigin::Start, 0),
    };
    copy(open(args.tail.follow, origin, offset)?, &mut stdout)?;
    Ok(0)
}

/// The named task, or the only one; Nomad's message when the choice is ambiguous.
pub fn pick_task(
    alloc_id: &str,
    given: Option<&str>,
    tasks: &[String],
    verbose: bool,
) -> Result<String> {
    if let Some(t) = given {
        if !tasks.is_empty() && !tasks.iter().any(|x| x == t) {
            bail!(
                "Could not find task named: {t}. Tasks in the allocation: {}",
                tasks.join(", ")
            );
        }
        return Ok(t.to_string());
    }
    match tasks {
        [one] => Ok(one.clone()),
        [] => bail!(
            "Allocation {:?} has no tasks",
            crate::format::id(alloc_id, verbose)
        ),
        many => {
            let list: String = many.iter().map(|t| format!("\n  * {t}")).collect();
            bail!(
                "Allocation {:?} is running the following tasks:{list}\n\nPlease specify the task.",
                crate::format::id(alloc_id, verbose)
            )
        }
    }
}

/// Asks `fetch(offset)` for the end of the log, growing the offset until `n` lines are in (or
/// the whole log came back), and returns the last `n` lines.
pub fn last_lines(mut fetch: impl FnMut(u64) -> Result<Vec<u8>>, n: usize) -> Result<Vec<u8>> {
    let mut offset = (n as u64).max(1) * BYTES_PER_LINE;
    loop {
        let data = fetch(offset)?;
        let whole = (data.len() as u64) < offset;
        // n lines need n newlines, plus one more before them unless we have the whole file.
        let newlines = data.iter().filter(|b| **b == b'\n').count();
        if whole || newlines > n || offset > 1 << 30 {
            return Ok(tail_of(&data, n));
        }
        offset *= 2;
    }
}

fn tail_of(data: &[u8], n: usize) -> Vec<u8> {
    if n == 0 {
        return Vec::new();
    }
    // Ignore a final newline when counting, so "a\nb\n" with n=1 gives "b\n".
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let mut seen = 0;
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == n {
                return data[i + 1..].to_vec();
            }
        }
    }
    data.to_vec()
}

pub fn read_all(mut r: impl Read) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.read_to_end(&mut buf).context("Error reading logs")?;
    Ok(buf)
}

/// Copies as bytes arrive, flushing each chunk so `-f` shows lines promptly.
pub fn copy(mut r: impl Read, w: &mut impl Write) -> Result<()> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("Error reading logs"),
        };
        w.write_all(&buf[..n]).context("Error writing logs")?;
        w.flush().context("Error writing logs")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_takes_last_lines() {
        assert_eq!(tail_of(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(tail_of(b"a\nb\nc", 2), b"b\nc");
        assert_eq!(tail_of(b"a\n", 5), b"a\n");
        assert!(tail_of(b"a\n", 0).is_empty());
    }

    #[test]
    fn last_lines_grows_the_offset_until_enough_lines() {
        let log: Vec<u8> = (0..100)
            .flat_map(|i| format!("{}\n", "x".repeat(200 + i)).into_bytes())
            .collect();
        let mut asked = Vec::new();
        let out = last_lines(
            |off| {
                asked.push(off);
                let start = log.len().saturating_sub(off as usize);
                Ok(log[start..].to_vec())
            },
            3,
        )
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap().lines().count(), 3);
        assert!(asked.len() > 1, "{asked:?}");
    }

    #[test]
    fn task_choice() {
        let one = vec!["server".to_string()];
        assert_eq!(
            pick_task("8ba85cef-1", None, &one, false).unwrap(),
            "server"
        );
        let two = vec!["a".to_string(), "b".to_string()];
        let err = pick_task("8ba85cef-1", None, &two, false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"8ba85cef\" is running the following tasks:\n  * a\n  * b"),
            "{err}"
        );
        assert!(pick_task("x", Some("zz"), &two, false).is_err());
    }
}
