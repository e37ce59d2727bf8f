//! Every error a host sees (this crate's and the RCON transport's) names its cause once: in its
//! own text, and not again as its `source()`, so a report that walks the chain (as `anyhow`'s
//! `{:#}` does) does not print the cause twice.

use std::error::Error;
use std::time::Duration;

use invsync_codec::{Capabilities, EncodeOptions, Error as CodecError, encode};
use invsync_host::{
    DeliveryError, DeliveryFailure, Link, LinkError, LinkOptions, Problem, PullError, PullFailure,
    SendError, SendFailure,
};
use invsync_rcon_transport::{
    ClientConfig, CommandError, ConnectionError, PacketError, RconError, StopReason,
};

/// The error and its sources, joined as `anyhow` prints them with `{:#}`.
fn chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text = format!("{text}: {cause}");
        next = cause.source();
    }
    text
}

fn assert_names_once(error: &dyn Error, cause: &dyn Error) {
    let text = chain(error);
    assert_eq!(
        text.matches(&cause.to_string()).count(),
        1,
        "the cause {cause:?} in {text:?}"
    );
}

/// A real codec error: a payload over the receiver's `max_message`.
fn too_large() -> CodecError {
    let options = EncodeOptions {
        receiver: Capabilities {
            max_message: 10,
            ..Capabilities::all(1000)
        },
        ..EncodeOptions::default()
    };
    encode(5, &[b'a'; 100], &options).unwrap_err()
}

#[test]
fn send_errors_name_their_cause_and_the_message_once() {
    let error = too_large();
    let encode = SendError {
        id: Some(5),
        failure: SendFailure::Encode(error.clone()),
    };
    assert_names_once(&encode, &error);
    assert_eq!(encode.protocol_error(), Some("MessageTooLarge"));

    // A delivery's failure under the message it failed: the id once, the cause once.
    let unreadable = DeliveryFailure::UnreadableFrame {
        position: 2,
        count: 3,
        error: CodecError::NotAFrame {
            reason: "it starts with `xx`".into(),
        },
    };
    let delivery = SendError {
        id: Some(5),
        failure: SendFailure::Delivery(unreadable.clone()),
    };
    assert_names_once(&delivery, &unreadable);
    assert_eq!(
        chain(&delivery),
        "message 5: frame 2 of 3 is not a valid frame: not a frame: it starts with `xx` \
         (protocol error NotAFrame)"
    );
    assert_eq!(delivery.protocol_error(), Some("NotAFrame"));

    let rejected = DeliveryError {
        id: 5,
        failure: DeliveryFailure::Rejected {
            chunk: Some(2),
            name: "MethodNotAccepted".into(),
            detail: "lz4 is off".into(),
        },
    };
    assert_eq!(
        chain(&rejected),
        "message 5: the game rejected chunk 2: MethodNotAccepted lz4 is off"
    );
    let delivery = SendError {
        id: Some(rejected.id),
        failure: SendFailure::Delivery(rejected.failure.clone()),
    };
    assert_eq!(chain(&delivery), chain(&rejected));
    assert_eq!(delivery.protocol_error(), Some("MethodNotAccepted"));
}

#[test]
fn a_panicked_encoder_is_its_own_failure() {
    let error = SendError {
        id: Some(8),
        failure: SendFailure::EncoderPanicked {
            reason: "task 12 panicked with message \"boom\"".into(),
        },
    };
    assert_eq!(
        chain(&error),
        "message 8: the encoder task failed: task 12 panicked with message \"boom\""
    );
    assert_eq!(error.protocol_error(), None, "not a protocol error");
}

#[test]
fn a_link_closed_before_an_id_was_assigned_says_so() {
    let closed = SendFailure::LinkClosed {
        reason: "the link task ended".into(),
    };
    let error = SendError {
        id: None,
        failure: closed.clone(),
    };
    assert_eq!(chain(&error), "the link closed: the link task ended");
    let error = SendError {
        id: Some(3),
        failure: closed,
    };
    assert_eq!(
        chain(&error),
        "message 3: the link closed: the link task ended"
    );
}

#[test]
fn pull_errors_and_problems_name_their_cause_once() {
    let error = too_large();
    let invalid = PullError {
        id: 9,
        failure: PullFailure::Invalid(error.clone()),
    };
    assert_names_once(&invalid, &error);
    assert_eq!(invalid.protocol_error(), Some("MessageTooLarge"));
    assert!(chain(&invalid).starts_with("staged message 9: message 5: "));
    let rejected = Problem::StdoutFrameRejected {
        line: 4,
        error: error.clone(),
    };
    assert_names_once(&rejected, &error);
    let expired = CodecError::Expired {
        id: 3,
        count: 2,
        missing: vec![2],
    };
    assert_names_once(&Problem::StdoutMessageExpired(expired.clone()), &expired);
}

#[test]
fn rcon_errors_name_their_cause_once() {
    let framing = PacketError::LengthTooSmall {
        offset: 0,
        length: 3,
    };
    let connection = ConnectionError::Framing(framing.clone());
    assert_names_once(&connection, &framing);
    assert_names_once(&RconError::Connection(connection.clone()), &framing);

    let lost = CommandError::ConnectionLost(connection.clone());
    assert_names_once(&lost, &connection);
    assert_names_once(&RconError::Command(lost.clone()), &connection);

    let gave_up = StopReason::GaveUp {
        attempts: 3,
        last: connection.clone(),
    };
    assert_names_once(&gave_up, &connection);
    assert_names_once(&RconError::Stopped(gave_up.clone()), &connection);
    let first = StopReason::FirstConnectFailed(connection.clone());
    assert_names_once(&RconError::Stopped(first), &connection);
}

#[tokio::test]
async fn a_link_that_cannot_open_rcon_names_the_rcon_error_once() {
    // A port nothing listens on: bound, then released.
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let mut rcon = ClientConfig::new(address, "pw");
    rcon.connect_timeout = Duration::from_secs(5);
    let stdout = std::io::Cursor::new(Vec::new());
    let Err(error) = Link::connect(rcon, stdout, LinkOptions::default()).await else {
        panic!("connected to nothing");
    };
    let LinkError::Rcon(cause) = &error;
    assert!(matches!(cause, RconError::Connect { .. }), "{cause:?}");
    assert_names_once(&error, cause);
    assert!(chain(&error).starts_with("cannot open the game's RCON: "));
}
