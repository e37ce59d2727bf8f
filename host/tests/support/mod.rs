//! Test peers for the link: a mock game server (RCON + Lua stand-in module + stdout pipe).
#![allow(dead_code)]

pub mod mock_game;
