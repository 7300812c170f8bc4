//! NDJSON input for the file-based commands: events from files or stdin, one JSON per line,
//! with the line's origin kept for error messages (`events.ndjson:17: not valid JSON …`).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;

/// Where a line came from.
pub struct LineOrigin<'a> {
    pub source: &'a str,
    pub line: usize,
}

/// Calls `each(line_bytes, origin)` for every non-empty line of every input (stdin when
/// `files` is empty or a file is `-`). Lines keep their bytes; a trailing `\r` is dropped.
pub fn for_each_line(
    files: &[PathBuf],
    mut each: impl FnMut(&[u8], LineOrigin<'_>) -> io::Result<()>,
) -> io::Result<()> {
    let stdin_only = [PathBuf::from("-")];
    let files = if files.is_empty() {
        &stdin_only[..]
    } else {
        files
    };
    let mut buf = Vec::with_capacity(8 * 1024);
    for path in files {
        let (name, reader): (String, Box<dyn Read>) = if path.as_os_str() == "-" {
            ("<stdin>".to_owned(), Box::new(io::stdin().lock()))
        } else {
            let file = File::open(path).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot open {}: {e}", path.display()))
            })?;
            (path.display().to_string(), Box::new(file))
        };
        let mut reader = BufReader::with_capacity(256 * 1024, reader);
        let mut line_no = 0;
        loop {
            buf.clear();
            if reader.read_until(b'\n', &mut buf)? == 0 {
                break;
            }
            line_no += 1;
            while let Some(b'\n' | b'\r') = buf.last() {
                buf.pop();
            }
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            each(
                &buf,
                LineOrigin {
                    source: &name,
                    line: line_no,
                },
            )?;
        }
    }
    Ok(())
}

/// Ends a command that wrote to stdout: flushes, and maps the outcome to an exit status (a
/// closed pipe, as in `| head`, is not an error). `code` is the status when all went well.
pub fn finish(
    result: io::Result<()>,
    out: &mut impl std::io::Write,
    code: std::process::ExitCode,
) -> std::process::ExitCode {
    match result.and_then(|()| out.flush()) {
        Ok(()) => code,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::ExitCode::SUCCESS,
        Err(e) => super::fail(1, e),
    }
}
