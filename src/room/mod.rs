//! A live room: the pure core (`state` fold, `policy`, `templates`) and the
//! effect shell around it (`actor`), plus the process's registry of rooms.

pub mod actor;
pub mod lease;
mod llm_shell;
pub mod policy;
pub mod queue;
pub mod registry;
pub mod state;
pub mod templates;

pub use actor::{Room, RoomDeps, RoomError};
pub use registry::{RoomHandle, RoomSpec, Rooms};
