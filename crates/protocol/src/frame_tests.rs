//! Tests of the frame parser and encoder: every type, partial input, errors, round trips.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;

fn parse_all(src: &[u8]) -> Frame {
    match parse_frame(src) {
        Ok(Some((frame, used))) => {
            assert_eq!(used, src.len(), "{src:?}");
            frame
        }
        other => panic!("{src:?}: {other:?}"),
    }
}

fn encode(f: &Frame) -> Vec<u8> {
    let mut out = BytesMut::new();
    f.encode(&mut out);
    out.to_vec()
}

#[test]
fn every_type_parses() {
    let b = |s: &[u8]| Bytes::copy_from_slice(s);
    let cases: Vec<(&[u8], Frame)> = vec![
        (b"+OK\r\n", Frame::Simple(b(b"OK"))),
        (b"-ERR x\r\n", Frame::Error(b(b"ERR x"))),
        (b":-12\r\n", Frame::Integer(-12)),
        (b"$3\r\na\r\n\r\n", Frame::Bulk(b(b"a\r\n"))),
        (b"_\r\n", Frame::Null),
        (b"$-1\r\n", Frame::NullBulk),
        (b"*-1\r\n", Frame::NullArray),
        (
            b"*2\r\n:1\r\n*0\r\n",
            Frame::Array(vec![Frame::Integer(1), Frame::Array(vec![])]),
        ),
        (
            b"%1\r\n+k\r\n:1\r\n",
            Frame::Map(vec![(Frame::Simple(b(b"k")), Frame::Integer(1))]),
        ),
        (b"~1\r\n#t\r\n", Frame::Set(vec![Frame::Boolean(true)])),
        (b">1\r\n#f\r\n", Frame::Push(vec![Frame::Boolean(false)])),
        (b",1.5\r\n", Frame::Double(1.5)),
        (b",-inf\r\n", Frame::Double(f64::NEG_INFINITY)),
        (
            b"(12345678901234567890\r\n",
            Frame::BigNumber(b(b"12345678901234567890")),
        ),
        (
            b"=6\r\ntxt:hi\r\n",
            Frame::Verbatim {
                format: *b"txt",
                text: b(b"hi"),
            },
        ),
        (b"!3\r\nERR\r\n", Frame::BlobError(b(b"ERR"))),
        (
            b"|1\r\n+a\r\n+b\r\n",
            Frame::Attribute(vec![(Frame::Simple(b(b"a")), Frame::Simple(b(b"b")))]),
        ),
        // A nested attribute is not an element of the array.
        (
            b"*1\r\n|1\r\n+a\r\n+b\r\n:7\r\n",
            Frame::Array(vec![Frame::Integer(7)]),
        ),
    ];
    for (src, want) in cases {
        assert_eq!(parse_all(src), want, "{src:?}");
    }
}

#[test]
fn every_prefix_is_incomplete() {
    let src = b"*3\r\n$3\r\nSET\r\n%1\r\n+k\r\n,2.5\r\n=6\r\ntxt:hi\r\n";
    for end in 0..src.len() {
        assert_eq!(parse_frame(&src[..end]), Ok(None), "{end}");
    }
    assert!(matches!(parse_frame(src), Ok(Some((_, n))) if n == src.len()));
}

#[test]
fn malformed_input_is_refused() {
    let cases: &[(&[u8], FrameError)] = &[
        (b"x\r\n", FrameError::UnknownType(b'x')),
        (b"$-2\r\n", FrameError::InvalidLength),
        (b"%-1\r\n", FrameError::InvalidLength),
        (b":1x\r\n", FrameError::InvalidInteger),
        (b",abc\r\n", FrameError::InvalidDouble),
        (b",infinity\r\n", FrameError::InvalidDouble),
        (b"#x\r\n", FrameError::InvalidBoolean),
        (b"=3\r\ntxt\r\n", FrameError::InvalidVerbatim),
        (b"+OK\rx", FrameError::MissingCrlf),
        (b"$2\r\nabcd", FrameError::MissingCrlf),
        (b"$?\r\n", FrameError::Streamed),
        (b"*?\r\n", FrameError::Streamed),
    ];
    for (src, want) in cases {
        assert_eq!(parse_frame(src).as_ref(), Err(want), "{src:?}");
    }
}

#[test]
fn nesting_deeper_than_the_limit_is_refused_without_recursion() {
    let deep = b"*1\r\n".repeat(100_000);
    assert_eq!(parse_frame(&deep), Err(FrameError::TooDeep));
    let mut ok = b"*1\r\n".repeat(MAX_DEPTH);
    ok.extend_from_slice(b":1\r\n");
    assert!(matches!(parse_frame(&ok), Ok(Some((_, n))) if n == ok.len()));
}

#[test]
fn huge_announced_count_does_not_allocate_up_front() {
    assert_eq!(parse_frame(b"*2147483647\r\n:1\r\n"), Ok(None));
}

fn leaf() -> impl Strategy<Value = Frame> {
    let text = prop::collection::vec(
        any::<u8>().prop_filter("no cr/lf", |c| *c != b'\r' && *c != b'\n'),
        0..8,
    )
    .prop_map(Bytes::from);
    let blob = prop::collection::vec(any::<u8>(), 0..16).prop_map(Bytes::from);
    prop_oneof![
        text.clone().prop_map(Frame::Simple),
        text.clone().prop_map(Frame::Error),
        any::<i64>().prop_map(Frame::Integer),
        blob.clone().prop_map(Frame::Bulk),
        Just(Frame::Null),
        Just(Frame::NullBulk),
        Just(Frame::NullArray),
        any::<f64>().prop_map(Frame::Double),
        any::<bool>().prop_map(Frame::Boolean),
        "[0-9]{1,30}".prop_map(|s| Frame::BigNumber(Bytes::from(s))),
        (any::<[u8; 3]>(), blob.clone())
            .prop_map(|(format, text)| Frame::Verbatim { format, text }),
        blob.prop_map(Frame::BlobError),
    ]
}

fn frame() -> impl Strategy<Value = Frame> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        let list = prop::collection::vec(inner.clone(), 0..6);
        let pairs = prop::collection::vec((inner.clone(), inner), 0..4);
        prop_oneof![
            list.clone().prop_map(Frame::Array),
            list.clone().prop_map(Frame::Set),
            list.prop_map(Frame::Push),
            pairs.prop_map(Frame::Map),
        ]
    })
}

proptest! {
    #[test]
    fn encode_then_parse_round_trips(f in frame(), attrs in prop::collection::vec((leaf(), leaf()), 0..3)) {
        let bytes = encode(&f);
        let (back, used) = parse_frame(&bytes).unwrap().unwrap();
        prop_assert_eq!(used, bytes.len());
        // Compare encodings: NaN is not equal to itself.
        prop_assert_eq!(encode(&back), bytes);

        let attr = Frame::Attribute(attrs);
        let bytes = encode(&attr);
        let (back, _) = parse_frame(&bytes).unwrap().unwrap();
        prop_assert_eq!(encode(&back), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(src in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = parse_frame(&src);
    }
}
