//! The tokio adapter over in-memory pipes and a real child process.

use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use invsync_codec::{Capabilities, EncodeOptions, Method, MethodChoice, encode};
use invsync_stdout_transport::{StdoutEvent, StdoutStream, StdoutStreamConfig};
use invsync_test_support::xorshift::{XorShift64, text_from_range};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

fn frames(id: u32, payload: &[u8]) -> Vec<String> {
    let options = EncodeOptions {
        method: MethodChoice::Only(Method::Zlib),
        receiver: Capabilities::all(invsync_codec::DEFAULT_MAX_FRAME_STDOUT),
        ..EncodeOptions::default()
    };
    encode(id, payload, &options).unwrap().frames
}

fn pseudo_random_text(len: usize) -> Vec<u8> {
    text_from_range(b'a'..=b'z', len, &mut XorShift64(0x2545_f491_4f6c_dd1d))
}

async fn collect(mut stream: StdoutStream) -> Vec<StdoutEvent> {
    let mut events = Vec::new();
    while let Some(event) = stream.next().await {
        events.push(event.expect("no read error"));
    }
    events
}

#[tokio::test]
async fn reads_lines_and_messages_from_a_pipe_written_in_small_pieces() {
    let data = pseudo_random_text(20_000);
    let frames = frames(11, &data);
    assert!(frames.len() > 3);
    let mut text = Vec::new();
    for frame in &frames {
        text.extend_from_slice(b"Info: tick\r\n");
        text.extend_from_slice(format!("\x0c{frame}\n").as_bytes());
    }
    text.extend_from_slice(b"last words");
    let (mut writer, reader) = tokio::io::duplex(256);
    let stream = StdoutStream::spawn(reader, StdoutStreamConfig::default());
    let write = tokio::spawn(async move {
        for piece in text.chunks(37) {
            writer.write_all(piece).await.unwrap();
        }
    });
    let events = collect(stream).await;
    write.await.unwrap();
    let delivered: Vec<&[u8]> = events
        .iter()
        .filter_map(|e| match e {
            StdoutEvent::Message { message, .. } => Some(&message.payload[..]),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, [&data[..]]);
    let logs: Vec<(String, bool)> = events
        .iter()
        .filter_map(|e| match e {
            StdoutEvent::Log(line) => Some((line.text.clone(), line.terminated)),
            _ => None,
        })
        .collect();
    assert_eq!(logs.len(), frames.len() + 1);
    assert!(
        logs[..frames.len()]
            .iter()
            .all(|(t, end)| t == "Info: tick" && *end)
    );
    assert_eq!(logs[frames.len()], ("last words".to_string(), false));
}

#[tokio::test(flavor = "current_thread")]
async fn a_slow_consumer_stops_the_writer() {
    const LINES: usize = 2000;
    const LINE: &[u8] = b"0123456789012345678901234567890123456789\n";
    let (mut writer, reader) = tokio::io::duplex(64);
    let config = StdoutStreamConfig {
        read_buffer: 64,
        channel: 4,
        ..StdoutStreamConfig::default()
    };
    let mut stream = StdoutStream::spawn(reader, config);
    let written = Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    let write = tokio::spawn(async move {
        for _ in 0..LINES {
            writer.write_all(LINE).await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    // Let the writer and reader run as far as they can while nobody consumes.
    for _ in 0..2000 {
        tokio::task::yield_now().await;
    }
    let stalled_at = written.load(Ordering::SeqCst);
    // Held back: 4 queued events, one read buffer of events waiting to be sent, the pipe.
    assert!(
        stalled_at < 20,
        "writer got {stalled_at} lines ahead of a consumer that reads nothing"
    );
    let mut lines = 0;
    while let Some(event) = stream.next().await {
        assert!(matches!(event.unwrap(), StdoutEvent::Log(_)));
        lines += 1;
    }
    write.await.unwrap();
    assert_eq!(lines, LINES);
}

#[tokio::test]
async fn reads_a_child_process_stdout() {
    let data = pseudo_random_text(9_000);
    let frames = frames(3, &data);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frames.txt");
    let mut content = Vec::new();
    for frame in &frames {
        content.extend_from_slice(format!("\x0c{frame}\n").as_bytes());
    }
    std::fs::write(&path, content).unwrap();
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(r#"printf 'Loading mod base\r\n[CHAT] eve: \014IS1 fake\n'; cat "$1"; printf 'Quitting'"#)
        .arg("sh")
        .arg(&path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("sh is available");
    let stdout = child.stdout.take().unwrap();
    let events = collect(StdoutStream::spawn(stdout, StdoutStreamConfig::default())).await;
    assert!(child.wait().await.unwrap().success());
    let mut logs = Vec::new();
    let mut payloads = Vec::new();
    for event in events {
        match event {
            StdoutEvent::Log(line) => logs.push(line.text),
            StdoutEvent::Message { message, .. } => payloads.push(message.payload),
            StdoutEvent::Progress { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        logs,
        ["Loading mod base", "[CHAT] eve: \x0cIS1 fake", "Quitting"]
    );
    assert_eq!(payloads, [data]);
}

/// A reader that returns some bytes, then fails.
struct FailingReader {
    data: &'static [u8],
}

impl AsyncRead for FailingReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.data.is_empty() {
            return Poll::Ready(Err(std::io::Error::other("pipe broke")));
        }
        let n = self.data.len().min(buf.remaining());
        buf.put_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn a_read_error_ends_the_stream_after_the_lines_before_it() {
    let mut stream = StdoutStream::spawn(
        FailingReader {
            data: b"one\ntwo (cut",
        },
        StdoutStreamConfig::default(),
    );
    let mut texts = Vec::new();
    let mut error = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(StdoutEvent::Log(line)) => texts.push((line.text, line.terminated)),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(err) => error = Some(err.to_string()),
        }
    }
    assert_eq!(
        texts,
        [("one".to_string(), true), ("two (cut".to_string(), false)]
    );
    assert_eq!(error.as_deref(), Some("pipe broke"));
}
