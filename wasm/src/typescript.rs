//! TypeScript declarations of the plain objects that cross the boundary. wasm-bindgen writes the
//! functions' and the class's signatures itself; these name what they take and return.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** A method on the wire (PROTOCOL.md 2.3). */
export type Method = "raw" | "lz4" | "zlib" | "solid";

/**
 * A receiver's capability declaration (PROTOCOL.md 4), as the game's `caps()` answers it.
 * Pass it as JSON text or as this object; unknown keys and methods are ignored.
 */
export interface Capabilities {
  protocol: 1;
  decode: string[];
  max_frame?: number;
  max_message?: number;
  max_chunks?: number;
  /** reads frames with the short header (PROTOCOL.md 2.5); encode() then writes it */
  short_header?: boolean;
}

export interface EncodeOptions {
  /** One method, or "auto" (default): the smallest total wire size the receiver decodes. */
  method?: "auto" | Method;
  /**
   * What the receiver declared. Default: what PROTOCOL.md 4 says to assume without a
   * declaration, `{"protocol":1,"decode":["raw"],"max_frame":4000}`.
   */
  receiver?: string | Capabilities;
  /** Cut frames of at most this many bytes, if smaller than the receiver's max_frame. */
  maxFrame?: number;
  /** zlib level 0..=10 (default 9). */
  zlibLevel?: number;
  /** Round the chunk count up to a multiple of this (the commands kept in flight). Default 1. */
  parallelism?: number;
  /** ...but never make chunks smaller than this many bytes to do so. Default 256. */
  minChunkData?: number;
  /** Bytes the channel adds to every frame (e.g. the RCON command wrapper), counted by "auto". */
  perFrameOverhead?: number;
  /**
   * Bytes a command streams into the game per tick (100 by default in the game); with it, a
   * message too small to fill `parallelism` streams is cut into as many frames as save a tick.
   * Default 0: no stream model.
   */
  segment?: number;
}

/** A message ready to send. */
export interface Encoded {
  id: number;
  method: Method;
  payloadLen: number;
  wireLen: number;
  /** CRC-32 of the wire text, 8 lowercase hex digits as on the wire. */
  messageCrc: string;
  /** One frame per chunk, in index order. */
  frames: string[];
}

/** Limits and policy of a Reassembler (and of decodeMessage). */
export interface ReassemblerOptions {
  /** Longest frame accepted, in bytes. Default 262144; 3999 suits stdout lines. */
  maxFrame?: number;
  /** Methods decoded, in order of preference. Default ["raw", "zlib", "solid", "lz4"]. */
  decode?: Method[] | string;
  /** Largest plen / wlen. Default 16 MiB. */
  maxMessage?: number;
  /** Largest chunk count. Default 65536. */
  maxChunks?: number;
  /** Messages of two or more chunks in progress at once. Default 64. */
  maxMessages?: number;
  /** Sum of the wire lengths of the messages in progress. Default 64 MiB. */
  maxBuffered?: number;
  /** Drop a message without progress for this many `now` units. Default 3600; null: never. */
  maxAgeTicks?: number | null;
  /** ...or while this many frames were pushed. Default 100000; null: never. */
  maxAgeFrames?: number | null;
  /** Completed messages remembered, to ignore their late duplicates. Default (and minimum) 64. */
  rememberCompleted?: number;
}

/** A complete, verified message. */
export interface Message {
  id: number;
  method: Method;
  count: number;
  wireLen: number;
  /** The payload, exactly as the sender had it (a fresh copy the caller owns). */
  payload: Uint8Array;
}

export type PushOutcome =
  | { kind: "stored"; id: number; index: number; have: number; count: number }
  | { kind: "duplicate"; id: number; index: number }
  | { kind: "complete"; id: number; message: Message };

/** A message in progress. */
export interface Progress {
  id: number;
  method: Method;
  have: number;
  count: number;
  receivedBytes: number;
  wireLen: number;
}

/** The errors thrown by the codec: `name` is one of errorNames() (PROTOCOL.md 3.1). */
export interface InvsyncError extends Error {
  /** The message the error is about, when known. */
  messageId?: number;
  /** Expired and Incomplete: the message's chunk count. */
  count?: number;
  /** Expired and Incomplete: the chunk numbers still missing. */
  missing?: number[];
}
"#;

#[wasm_bindgen]
extern "C" {
    /// An `EncodeOptions` object (read and checked by `encode.rs`).
    #[wasm_bindgen(typescript_type = "EncodeOptions")]
    pub type EncodeOptionsArg;

    /// A `ReassemblerOptions` object (read and checked by `reassembler.rs`).
    #[wasm_bindgen(typescript_type = "ReassemblerOptions")]
    pub type ReassemblerOptionsArg;

    /// A time in ticks (checked to be a non-negative safe integer where it is read).
    #[wasm_bindgen(typescript_type = "number")]
    pub type TicksArg;
}
