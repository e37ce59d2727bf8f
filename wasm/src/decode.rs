//! `decodeMessage(frames, options?)`: one whole message from all its frames
//! ([`invsync_codec::decode_message`]).

use wasm_bindgen::prelude::*;

use crate::input::{Measured, bytes_within};
use crate::js_error::{protocol_error, type_error};
use crate::options::type_name;
use crate::typescript::ReassemblerOptionsArg;
use crate::{output, reassembler};

/// Decodes one message from its frames (an array or any iterable of strings or `Uint8Array`s),
/// in any order, duplicates allowed. Takes the `Reassembler` options (ages do not apply).
/// Throws the first frame's error, or `Incomplete` (with `missing`) if the frames do not
/// complete a message; with frames of several messages, the first one completed wins.
#[wasm_bindgen(js_name = decodeMessage, unchecked_return_type = "Message")]
pub fn decode_message(
    #[wasm_bindgen(unchecked_param_type = "Iterable<string | Uint8Array>")] frames: JsValue,
    options: Option<ReassemblerOptionsArg>,
) -> Result<JsValue, JsValue> {
    let config = reassembler::config(&options.map_or(JsValue::UNDEFINED, JsValue::from))?;
    let max_frame = config.max_frame;
    let not_iterable = || {
        type_error(&format!(
            "frames must be an array (or iterable) of frames, got {}",
            type_name(&frames)
        ))
    };
    let iter = js_sys::try_iter(&frames)
        .map_err(|_| not_iterable())?
        .ok_or_else(not_iterable)?;
    // Frames are converted one at a time as the codec asks for them, so an error in frame n is
    // reported only if frames 1..n did not fail first, exactly as the codec orders errors.
    let mut refused: Option<JsValue> = None;
    let lines = iter.map_while(|item| {
        let converted = item.and_then(|v| bytes_within(&v, max_frame, "each frame"));
        match converted {
            Ok(Measured::Bytes(bytes)) => Some(bytes),
            Ok(Measured::TooLong(len)) => {
                refused = Some(protocol_error(&invsync_codec::Error::FrameTooLong {
                    len,
                    max: max_frame,
                }));
                None
            }
            Err(e) => {
                refused = Some(e);
                None
            }
        }
    });
    let result = invsync_codec::decode_message(lines, config);
    // The iteration stopped early only at a refused frame, and then no message had completed.
    match (result, refused) {
        (Ok(m), _) => Ok(output::message(&m)),
        (Err(_), Some(e)) => Err(e),
        (Err(e), None) => Err(protocol_error(&e)),
    }
}
