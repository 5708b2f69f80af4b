//! The part of `onnx.proto` (onnx/onnx, `onnx/onnx.proto`, IR version 8+) that the native
//! decoder reads: the graph's nodes, initializers, inputs and outputs, and tensors.
//!
//! Hand-written rather than generated: the official schema would need `protoc` at build
//! time, and we read about fifteen of its fields. Field numbers are the official ones;
//! every field not listed here is skipped by prost when decoding (and dropped when one of
//! these messages is re-encoded, which only tests do).

/// `ModelProto`: only the graph.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ModelProto {
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
}

/// `GraphProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
}

/// `NodeProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    #[prost(string, optional, tag = "3")]
    pub name: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub op_type: Option<String>,
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
}

/// `AttributeProto`: the scalar, integer and tensor values (`Gemm`'s `alpha`/`transB`,
/// `Constant`'s `value`).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct AttributeProto {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(float, optional, tag = "2")]
    pub f: Option<f32>,
    #[prost(int64, optional, tag = "3")]
    pub i: Option<i64>,
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    /// `AttributeType`: FLOAT = 1, INT = 2, TENSOR = 4.
    #[prost(int32, optional, tag = "20")]
    pub r#type: Option<i32>,
}

/// `TensorProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TensorProto {
    /// proto2 `repeated int64`: unpacked on the wire (prost reads both forms).
    #[prost(int64, repeated, packed = "false", tag = "1")]
    pub dims: Vec<i64>,
    #[prost(int32, optional, tag = "2")]
    pub data_type: Option<i32>,
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    /// FLOAT16 values may be stored here, one per element, as their bit pattern.
    #[prost(int32, repeated, tag = "5")]
    pub int32_data: Vec<i32>,
    #[prost(string, optional, tag = "8")]
    pub name: Option<String>,
    #[prost(bytes = "vec", optional, tag = "9")]
    pub raw_data: Option<Vec<u8>>,
    #[prost(message, repeated, tag = "13")]
    pub external_data: Vec<StringStringEntryProto>,
    /// `DataLocation`: DEFAULT = 0, EXTERNAL = 1.
    #[prost(int32, optional, tag = "14")]
    pub data_location: Option<i32>,
}

/// `StringStringEntryProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct StringStringEntryProto {
    #[prost(string, optional, tag = "1")]
    pub key: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

/// `ValueInfoProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ValueInfoProto {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
}

/// `TypeProto`: only the tensor case of its `value` oneof.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TypeProto {
    #[prost(message, optional, tag = "1")]
    pub tensor_type: Option<TypeProtoTensor>,
}

/// `TypeProto.Tensor`: the element type; the shape (field 2) is left unknown.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TypeProtoTensor {
    #[prost(int32, optional, tag = "1")]
    pub elem_type: Option<i32>,
}

/// `TensorProto.DataType.FLOAT`.
pub(crate) const DATA_TYPE_FLOAT: i32 = 1;
/// `TensorProto.DataType.FLOAT16`.
pub(crate) const DATA_TYPE_FLOAT16: i32 = 10;
/// `TensorProto.DataLocation.EXTERNAL`.
pub(crate) const DATA_LOCATION_EXTERNAL: i32 = 1;

/// A message of the subset above, for [`decoded_size_estimate`].
#[derive(Clone, Copy)]
enum Kind {
    Model,
    Graph,
    Node,
    Attribute,
    Tensor,
    Entry,
    ValueInfo,
    Type,
    TypeTensor,
}

/// What decoding one field of a [`Kind`] allocates.
enum Field {
    /// An element of a repeated message field, of this size, then its own contents.
    Repeated(Kind, usize),
    /// A singular message field: stored inline, only its contents allocate.
    Singular(Kind),
    /// A string or bytes field.
    Bytes,
    /// An element of a repeated string field.
    RepeatedString,
    /// A repeated number field with elements of `size` bytes in memory, as varints or
    /// (`fixed`) 4-byte values, one per field or packed.
    Numbers { size: usize, fixed: bool },
    /// A scalar or an unknown field: nothing.
    Nothing,
}

fn field(kind: Kind, tag: u32) -> Field {
    use std::mem::size_of;
    match (kind, tag) {
        (Kind::Model, 7) => Field::Singular(Kind::Graph),
        (Kind::Graph, 1) => Field::Repeated(Kind::Node, size_of::<NodeProto>()),
        (Kind::Graph, 5) => Field::Repeated(Kind::Tensor, size_of::<TensorProto>()),
        (Kind::Graph, 11 | 12) => Field::Repeated(Kind::ValueInfo, size_of::<ValueInfoProto>()),
        (Kind::Node, 1 | 2) => Field::RepeatedString,
        (Kind::Node, 3 | 4) => Field::Bytes,
        (Kind::Node, 5) => Field::Repeated(Kind::Attribute, size_of::<AttributeProto>()),
        (Kind::Attribute, 1) => Field::Bytes,
        (Kind::Attribute, 5) => Field::Singular(Kind::Tensor),
        (Kind::Tensor, 1) => Field::Numbers {
            size: size_of::<i64>(),
            fixed: false,
        },
        (Kind::Tensor, 4) => Field::Numbers {
            size: size_of::<f32>(),
            fixed: true,
        },
        (Kind::Tensor, 5) => Field::Numbers {
            size: size_of::<i32>(),
            fixed: false,
        },
        (Kind::Tensor, 8 | 9) => Field::Bytes,
        (Kind::Tensor, 13) => Field::Repeated(Kind::Entry, size_of::<StringStringEntryProto>()),
        (Kind::Entry, 1 | 2) => Field::Bytes,
        (Kind::ValueInfo, 1) => Field::Bytes,
        (Kind::ValueInfo, 2) => Field::Singular(Kind::Type),
        (Kind::Type, 1) => Field::Singular(Kind::TypeTensor),
        _ => Field::Nothing,
    }
}

/// The memory that decoding `bytes` as a [`ModelProto`] allocates, estimated by walking
/// the wire format without allocating (measured: 0.95× for the default export, 1.1–2× for
/// files of many tiny messages). A protobuf's lengths are bounded by the file, but not
/// what they decode to: an empty node is 2 bytes on the wire and over a hundred in
/// memory, so a modest hostile file could otherwise take gigabytes.
pub(crate) fn decoded_size_estimate(bytes: &[u8]) -> Result<u64, String> {
    let mut total = 0u64;
    walk(bytes, Kind::Model, &mut total)?;
    Ok(total)
}

fn walk(mut buf: &[u8], kind: Kind, total: &mut u64) -> Result<(), String> {
    // Repeated fields already met in this message: a vector's first push reserves room for
    // 4 elements, later ones at most double it.
    let mut seen = 0u64;
    let mut vector = |total: &mut u64, tag: u32, count: usize, size: usize| {
        let first = tag < 64 && seen & (1 << tag) == 0;
        if tag < 64 {
            seen |= 1 << tag;
        }
        let slots = if first { (2 * count).max(4) } else { 2 * count };
        *total = total.saturating_add((slots * size) as u64);
    };
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        let tag = u32::try_from(key >> 3).map_err(|_| format!("invalid field key {key}"))?;
        let wire_type = key & 7;
        let field = field(kind, tag);
        match wire_type {
            0 | 1 | 5 => {
                let width = match wire_type {
                    0 => {
                        varint(&mut buf)?;
                        0
                    }
                    1 => 8,
                    _ => 4,
                };
                buf = buf
                    .get(width..)
                    .ok_or_else(|| format!("field {tag} runs past the end of its message"))?;
                if let Field::Numbers { size, .. } = field {
                    vector(total, tag, 1, size);
                }
            }
            2 => {
                let len = varint(&mut buf)?;
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&len| len <= buf.len())
                    .ok_or_else(|| format!("field {tag} runs past the end of its message"))?;
                let (body, rest) = buf.split_at(len);
                buf = rest;
                match field {
                    Field::Repeated(child, size) => {
                        vector(total, tag, 1, size);
                        walk(body, child, total)?;
                    }
                    Field::Singular(child) => walk(body, child, total)?,
                    Field::Bytes => *total = total.saturating_add(len as u64),
                    Field::RepeatedString => {
                        vector(total, tag, 1, std::mem::size_of::<String>());
                        *total = total.saturating_add(len as u64);
                    }
                    Field::Numbers { size, fixed } => {
                        // Packed: a varint ends at each byte below 0x80.
                        let count = if fixed {
                            len / 4
                        } else {
                            body.iter().filter(|&&b| b < 0x80).count()
                        };
                        vector(total, tag, count, size);
                    }
                    Field::Nothing => {}
                }
            }
            _ => return Err(format!("unsupported wire type {wire_type} in field {tag}")),
        }
    }
    Ok(())
}

fn varint(buf: &mut &[u8]) -> Result<u64, String> {
    let mut value = 0u64;
    for (i, &byte) in buf.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            *buf = &buf[i + 1..];
            return Ok(value);
        }
    }
    Err("truncated or overlong varint".into())
}
