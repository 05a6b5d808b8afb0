//! `alloc fs ALLOC [PATH]`: list a directory of an allocation, or print a file of it (whole,
//! its tail, or followed), as Nomad's `alloc fs` does.

use crate::commands::alloc_logs::{copy, last_lines, read_all, TailFlags};
use crate::commands::lookup;
use crate::format;
use anyhow::{anyhow, Context, Result};
use api::client::{Client, LogOrigin};
use api::fs::AllocFileInfo;
use base64::Engine;
use std::io::{Read, Write};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// An allocation id or unique prefix
    pub alloc: String,
    /// A path inside the allocation directory ("/", "alloc/logs", "web/local/app.conf")
    #[arg(default_value = "/")]
    pub path: String,
    /// Show the file's or directory's details instead of its contents
    #[arg(long)]
    pub stat: bool,
    #[command(flatten)]
    pub tail: TailFlags,
    /// Sizes in bytes rather than KiB/MiB
    #[arg(short = 'H')]
    pub machine: bool,
    #[arg(long)]
    pub verbose: bool,
}

pub fn run(client: &Client, args: &Args) -> Result<i32> {
    let alloc = lookup::alloc(client, &args.alloc, args.verbose)?;
    let info = client
        .alloc_fs_stat(&alloc.id, &args.path)
        .map_err(|e| anyhow!("Error reading {}: {e}", args.path))?;
    if args.stat {
        print!("{}", render_list(std::slice::from_ref(&info), args.machine));
        return Ok(0);
    }
    if info.is_dir {
        let list = client
            .alloc_fs_list(&alloc.id, &args.path)
            .map_err(|e| anyhow!("Error listing {}: {e}", args.path))?;
        print!("{}", render_list(&list, args.machine));
        return Ok(0);
    }
    let mut out = std::io::stdout().lock();
    let read = |offset: u64, limit: Option<u64>| {
        client
            .alloc_fs_read(&alloc.id, &args.path, offset, limit)
            .map_err(|e| anyhow!("Error reading {}: {e}", args.path))
    };
    let mut end = info.size;
    if args.tail.tail {
        let data = match args.tail.bytes {
            Some(c) => read_all(read(info.size.saturating_sub(c), None)?)?,
            None => last_lines(
                |back| read_all(read(info.size.saturating_sub(back), None)?),
                args.tail.lines.unwrap_or(10),
            )?,
        };
        out.write_all(&data).context("Error writing the file")?;
    } else {
        let mut r = read(0, None)?;
        let mut data = Vec::new();
        r.read_to_end(&mut data).context("Error reading the file")?;
        end = data.len() as u64;
        out.write_all(&data).context("Error writing the file")?;
    }
    out.flush().ok();
    if args.tail.follow {
        let stream = client
            .alloc_fs_stream(&alloc.id, &args.path, LogOrigin::Start, end)
            .map_err(|e| anyhow!("Error following {}: {e}", args.path))?;
        copy(FrameData::new(stream), &mut out)?;
    }
    Ok(0)
}

/// `Mode  Size  Modified Time  Name`, directories with a trailing slash.
pub fn render_list(files: &[AllocFileInfo], machine: bool) -> String {
    let rows: Vec<Vec<String>> = files
        .iter()
        .map(|f| {
            let size = if machine {
                f.size.to_string()
            } else {
                format::ibytes(f.size)
            };
            let name = if f.is_dir {
                format!("{}/", f.name.trim_end_matches('/'))
            } else {
                f.name.clone()
            };
            vec![f.file_mode.clone(), size, f.mod_time.clone(), name]
        })
        .collect();
    format::table_with(&["Mode", "Size", "Modified Time", "Name"], rows)
}

/// The bytes carried by a stream of `{"Data": <base64>, ...}` frames.
struct FrameData<R: Read> {
    frames: serde_json::StreamDeserializer<'static, serde_json::de::IoRead<R>, serde_json::Value>,
    pending: Vec<u8>,
}

impl<R: Read> FrameData<R> {
    fn new(r: R) -> Self {
        FrameData {
            frames: serde_json::Deserializer::from_reader(r).into_iter(),
            pending: Vec::new(),
        }
    }
}

impl<R: Read> Read for FrameData<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pending.is_empty() {
            match self.frames.next() {
                None => return Ok(0),
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                Some(Ok(frame)) => {
                    let data = frame["Data"].as_str().unwrap_or_default();
                    self.pending = base64::engine::general_purpose::STANDARD
                        .decode(data)
                        .map_err(std::io::Error::other)?;
                }
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_like_nomad_and_decodes_frames() {
        let files = vec![
            AllocFileInfo {
                name: "alloc".into(),
                is_dir: true,
                size: 4096,
                file_mode: "drwxr-xr-x".into(),
                mod_time: "2026-12-07T01:00:00Z".into(),
                content_type: String::new(),
            },
            AllocFileInfo {
                name: "app.conf".into(),
                is_dir: false,
                size: 10,
                file_mode: "-rw-r--r--".into(),
                mod_time: "2026-12-07T01:00:01Z".into(),
                content_type: "text/plain".into(),
            },
        ];
        let text = render_list(&files, true);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("Mode"), "{text}");
        assert!(
            lines[1].starts_with("drwxr-xr-x") && lines[1].ends_with("alloc/"),
            "{text}"
        );
        assert!(
            lines[2].contains(" 10 ") && lines[2].ends_with("app.conf"),
            "{text}"
        );
        let frames =
            br#"{"Data":"aGVs","File":"f","Offset":3}{"Data":"bG8K","File":"f","Offset":6}"#;
        let mut out = String::new();
        FrameData::new(&frames[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "hello\n");
    }
}
