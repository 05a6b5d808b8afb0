//! `var lock [-ttl D] [-delay D] [-max-retry N] [-shell=BOOL] [-verbose] PATH [@SPEC] CHILD...`:
//! takes the variable's lock (waiting while another holder has it), runs the child while
//! renewing the lock, and releases it when the child ends. A lost lock stops the child.

use super::var_put::variable_of;
use super::var_spec::{InFormat, Stdin};
use anyhow::{anyhow, bail, Context, Result};
use api::client::{Client, ClientError};
use api::variable::{Variable, VariableLock};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// How long the lock lasts without a renewal
    #[arg(long, default_value = "15s")]
    pub ttl: String,
    /// How long the variable stays unlockable after a lock lapses
    #[arg(long, default_value = "15s")]
    pub delay: String,
    /// Server errors tolerated in a row while renewing before the lock counts as lost
    #[arg(long = "max-retry", default_value_t = 5)]
    pub max_retry: u32,
    /// Run the child through $SHELL -c (default /bin/sh)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub shell: bool,
    /// Say on stderr what the lock is doing
    #[arg(long)]
    pub verbose: bool,
    /// PATH, an optional @SPEC, then the child command
    #[arg(required = true, num_args = 2.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// How often a waiting `var lock` tries again.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// How often the child is checked between renewals.
const POLL: Duration = Duration::from_millis(100);

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let (spec_args, child_args) = split_args(&args.args)?;
    let mut var = variable_of(spec_args, InFormat::Json, &mut Stdin::default())?;
    var.lock = Some(VariableLock {
        id: String::new(),
        ttl: args.ttl.clone(),
        lock_delay: args.delay.clone(),
    });
    let (ttl, _) = var
        .lock
        .as_ref()
        .map_or(
            Ok((Duration::ZERO, Duration::ZERO)),
            VariableLock::durations,
        )
        .map_err(|e| anyhow!("{e}"))?;
    let url = format!("/v1/var/{}", var.path);
    let lock_id = acquire(client, &url, &var, args.verbose)?;
    if args.verbose {
        eprintln!("Lock acquired on {:?}, running the child", var.path);
    }
    let mut child = spawn(child_args, args.shell)?;
    let held = Variable {
        namespace: var.namespace.clone(),
        path: var.path.clone(),
        lock: Some(VariableLock {
            id: lock_id.clone(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let code = supervise(client, &url, &held, &mut child, ttl / 2, args)?;
    match client.put::<_, serde_json::Value>(&url, &[("lock-release", "")], &held) {
        Ok(_) if args.verbose => eprintln!("Lock released"),
        Ok(_) => {}
        Err(e) => eprintln!("Error releasing the lock: {e}"),
    }
    Ok(code)
}

/// The variable part (PATH and an optional @SPEC) and the child's command.
fn split_args(args: &[String]) -> Result<(&[String], &[String])> {
    let spec_len = match args {
        [_, spec, _, ..] if spec.starts_with('@') => 2,
        [_, _, ..] => 1,
        _ => bail!("give a variable path and the command to run while holding its lock"),
    };
    Ok(args.split_at(spec_len))
}

/// Tries to take the lock until it is free; returns the lock's id.
fn acquire(client: &Client, url: &str, var: &Variable, verbose: bool) -> Result<String> {
    let mut said = false;
    loop {
        match client.put::<_, Variable>(url, &[("lock-acquire", "")], var) {
            Ok(v) => {
                return v
                    .lock
                    .map(|l| l.id)
                    .filter(|id| !id.is_empty())
                    .ok_or_else(|| anyhow!("the agent answered the lock without a lock ID"))
            }
            Err(ClientError::Http { status: 409, .. }) => {
                if verbose && !std::mem::replace(&mut said, true) {
                    eprintln!("The variable is locked by another holder; waiting");
                }
                std::thread::sleep(RETRY_INTERVAL);
            }
            Err(e) => return Err(anyhow!("Error acquiring the lock: {e}")),
        }
    }
}

fn spawn(child: &[String], shell: bool) -> Result<Child> {
    let mut cmd = if shell {
        let sh = std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into());
        let mut c = Command::new(sh);
        c.arg("-c").arg(child.join(" "));
        c
    } else {
        let mut c = Command::new(&child[0]);
        c.args(&child[1..]);
        c
    };
    cmd.spawn()
        .with_context(|| format!("starting {:?}", child.join(" ")))
}

/// Renews the lock every `every` while the child runs; returns the child's exit code, or 1
/// after stopping it when the lock was lost.
fn supervise(
    client: &Client,
    url: &str,
    held: &Variable,
    child: &mut Child,
    every: Duration,
    args: &Args,
) -> Result<i32> {
    let mut next_renew = Instant::now() + every;
    let mut failures = 0;
    loop {
        if let Some(status) = child.try_wait().context("waiting for the child")? {
            return Ok(status.code().unwrap_or(1));
        }
        if Instant::now() >= next_renew {
            match client.put::<_, Variable>(url, &[("lock-renew", "")], held) {
                Ok(_) => {
                    failures = 0;
                    next_renew = Instant::now() + every;
                }
                Err(ClientError::Http { status: 409, .. }) => {
                    return lost(child, "the lock was lost")
                }
                Err(e) => {
                    failures += 1;
                    if failures > args.max_retry {
                        return lost(
                            child,
                            &format!("renewing the lock failed {failures} times: {e}"),
                        );
                    }
                    next_renew = Instant::now() + RETRY_INTERVAL;
                }
            }
        }
        std::thread::sleep(POLL);
    }
}

fn lost(child: &mut Child, why: &str) -> Result<i32> {
    eprintln!("Error: {why}; stopping the child");
    if let Ok(pid) = i32::try_from(child.id()) {
        // SIGTERM first, as `nomad var lock` does, so the child may clean up.
        // SAFETY: kill(2) on our own child's pid; no memory is touched.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return Ok(1);
        }
        std::thread::sleep(POLL);
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_spec_and_child_split() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let a = s(&["p", "echo", "hi"]);
        let (v, c) = split_args(&a).unwrap();
        assert_eq!((v.len(), c.len()), (1, 2));
        let a = s(&["p", "@spec.json", "echo"]);
        let (v, c) = split_args(&a).unwrap();
        assert_eq!((v.len(), c), (2, &a[2..]));
        assert!(split_args(&s(&["p"])).is_err());
    }
}
