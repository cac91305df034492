//! Douyin webcast protobuf messages, written by hand with the field numbers
//! of FIELD §4.2 (saermart's `douyin.proto` and Fay's protos, read as the
//! spec). Only the fields the adapter reads are declared; prost skips the
//! others. No protoc, no build script.

#[derive(Clone, PartialEq, prost::Message)]
pub struct PushFrame {
    #[prost(uint64, tag = "1")]
    pub seq_id: u64,
    #[prost(uint64, tag = "2")]
    pub log_id: u64,
    #[prost(uint64, tag = "3")]
    pub service: u64,
    #[prost(uint64, tag = "4")]
    pub method: u64,
    #[prost(message, repeated, tag = "5")]
    pub headers: Vec<HeaderEntry>,
    #[prost(string, tag = "6")]
    pub payload_encoding: String,
    #[prost(string, tag = "7")]
    pub payload_type: String,
    #[prost(bytes = "vec", tag = "8")]
    pub payload: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HeaderEntry {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Response {
    #[prost(message, repeated, tag = "1")]
    pub messages: Vec<Message>,
    #[prost(string, tag = "2")]
    pub cursor: String,
    #[prost(uint64, tag = "3")]
    pub fetch_interval: u64,
    #[prost(uint64, tag = "4")]
    pub now: u64,
    #[prost(string, tag = "5")]
    pub internal_ext: String,
    #[prost(uint32, tag = "6")]
    pub fetch_type: u32,
    #[prost(uint64, tag = "8")]
    pub heartbeat_duration: u64,
    #[prost(bool, tag = "9")]
    pub need_ack: bool,
    #[prost(string, tag = "10")]
    pub push_server: String,
    #[prost(string, tag = "11")]
    pub live_cursor: String,
    #[prost(bool, tag = "12")]
    pub history_no_more: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Message {
    #[prost(string, tag = "1")]
    pub method: String,
    #[prost(bytes = "vec", tag = "2")]
    pub payload: Vec<u8>,
    #[prost(int64, tag = "3")]
    pub msg_id: i64,
    #[prost(int32, tag = "4")]
    pub msg_type: i32,
    #[prost(int64, tag = "5")]
    pub offset: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Common {
    #[prost(string, tag = "1")]
    pub method: String,
    #[prost(uint64, tag = "2")]
    pub msg_id: u64,
    #[prost(uint64, tag = "3")]
    pub room_id: u64,
    #[prost(uint64, tag = "4")]
    pub create_time: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct User {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(uint64, tag = "2")]
    pub short_id: u64,
    #[prost(string, tag = "3")]
    pub nick_name: String,
    #[prost(uint32, tag = "4")]
    pub gender: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ChatMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<Common>,
    #[prost(message, optional, tag = "2")]
    pub user: Option<User>,
    #[prost(string, tag = "3")]
    pub content: String,
    #[prost(uint64, tag = "15")]
    pub event_time: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GiftStruct {
    #[prost(uint64, tag = "5")]
    pub id: u64,
    #[prost(uint32, tag = "12")]
    pub diamond_count: u32,
    #[prost(string, tag = "16")]
    pub name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GiftMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<Common>,
    #[prost(uint64, tag = "2")]
    pub gift_id: u64,
    #[prost(uint64, tag = "4")]
    pub group_count: u64,
    #[prost(uint64, tag = "5")]
    pub repeat_count: u64,
    #[prost(uint64, tag = "6")]
    pub combo_count: u64,
    #[prost(message, optional, tag = "7")]
    pub user: Option<User>,
    #[prost(message, optional, tag = "8")]
    pub to_user: Option<User>,
    #[prost(uint32, tag = "9")]
    pub repeat_end: u32,
    #[prost(uint64, tag = "11")]
    pub group_id: u64,
    #[prost(message, optional, tag = "15")]
    pub gift: Option<GiftStruct>,
    #[prost(uint64, tag = "29")]
    pub total_count: u64,
    #[prost(uint64, tag = "33")]
    pub send_time: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LikeMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<Common>,
    #[prost(uint64, tag = "2")]
    pub count: u64,
    #[prost(uint64, tag = "3")]
    pub total: u64,
    #[prost(message, optional, tag = "5")]
    pub user: Option<User>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MemberMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<Common>,
    #[prost(message, optional, tag = "2")]
    pub user: Option<User>,
    #[prost(uint64, tag = "3")]
    pub member_count: u64,
    #[prost(uint64, tag = "9")]
    pub enter_type: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SocialMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<Common>,
    #[prost(message, optional, tag = "2")]
    pub user: Option<User>,
    #[prost(uint64, tag = "3")]
    pub share_type: u64,
    #[prost(uint64, tag = "4")]
    pub action: u64,
    #[prost(uint64, tag = "6")]
    pub follow_count: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RoomUserSeqMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<Common>,
    #[prost(uint64, tag = "3")]
    pub total: u64,
    #[prost(uint64, tag = "7")]
    pub total_user: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ControlMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<Common>,
    #[prost(uint32, tag = "2")]
    pub status: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LiveShoppingMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<Common>,
    #[prost(uint32, tag = "2")]
    pub msg_type: u32,
    #[prost(uint64, tag = "4")]
    pub promotion_id: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ProductChangeMessage {
    #[prost(message, optional, tag = "1")]
    pub common: Option<Common>,
    #[prost(uint64, tag = "2")]
    pub update_timestamp: u64,
    #[prost(string, tag = "3")]
    pub update_toast: String,
    #[prost(uint64, tag = "5")]
    pub total: u64,
}
