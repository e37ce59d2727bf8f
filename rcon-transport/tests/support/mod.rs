//! Test peers for the RCON client: a Factorio-like game on loopback, and helpers to run the
//! Python peers.
#![allow(dead_code)]

pub mod mock_game;
pub mod peers;
