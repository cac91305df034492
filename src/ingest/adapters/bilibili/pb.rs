//! The protobuf inside `INTERACT_WORD_V2` (`data.pb`, base64): uid = 1,
//! uname = 2, msg_type = 5 (1 enter, 2 follow, 3 share), timestamp = 7
//! (blivedm's `models/pb.py` as the field list).

use base64::Engine;

use crate::ingest::adapters::DecodeError;

#[derive(Clone, PartialEq, prost::Message)]
pub struct InteractWord {
    #[prost(uint64, tag = "1")]
    pub uid: u64,
    #[prost(string, tag = "2")]
    pub uname: String,
    #[prost(uint64, tag = "5")]
    pub msg_type: u64,
    #[prost(uint64, tag = "7")]
    pub timestamp: u64,
}

pub fn decode_interact_word(pb_base64: &str) -> Result<InteractWord, DecodeError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(pb_base64.trim())
        .map_err(|e| DecodeError::new(format!("INTERACT_WORD_V2 pb is not base64: {e}")))?;
    <InteractWord as prost::Message>::decode(bytes.as_slice())
        .map_err(|e| DecodeError::new(format!("INTERACT_WORD_V2 pb does not decode: {e}")))
}

pub fn encode_interact_word(word: &InteractWord) -> String {
    base64::engine::general_purpose::STANDARD.encode(prost::Message::encode_to_vec(word))
}
