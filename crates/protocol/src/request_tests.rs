//! Tests of the request decoder: pipelining, partial input, inline parsing, limits, errors.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;

fn limits() -> RequestLimits {
    RequestLimits::default()
}

/// Decodes every complete command in `input`, fed in one piece.
fn decode_all(input: &[u8], limits: &RequestLimits) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
    let mut dec = RequestDecoder::new();
    let mut buf = BytesMut::from(input);
    let mut out = Vec::new();
    while let Some(cmd) = dec.decode(&mut buf, limits)? {
        out.push(cmd);
    }
    Ok(out)
}

/// Decodes `input` fed in pieces split at `cuts`.
fn decode_split(input: &[u8], cuts: &[usize]) -> Result<Vec<Vec<Bytes>>, ProtocolError> {
    let mut dec = RequestDecoder::new();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut start = 0;
    for end in cuts.iter().copied().chain([input.len()]) {
        let end = end.clamp(start, input.len());
        buf.extend_from_slice(&input[start..end]);
        start = end;
        while let Some(cmd) = dec.decode(&mut buf, &limits())? {
            out.push(cmd);
        }
    }
    Ok(out)
}

fn args(items: &[&[u8]]) -> Vec<Bytes> {
    items.iter().map(|a| Bytes::copy_from_slice(a)).collect()
}

fn error_of(input: &[u8], limits: &RequestLimits) -> String {
    match decode_all(input, limits) {
        Err(e) => e.to_string(),
        Ok(cmds) => panic!("expected an error, got {cmds:?}"),
    }
}

fn multibulk(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[test]
fn pipelined_commands_decode_one_at_a_time() {
    let input = b"*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\nGET k\r\n";
    let cmds = decode_all(input, &limits()).unwrap();
    assert_eq!(
        cmds,
        vec![
            args(&[b"PING"]),
            args(&[b"SET", b"k", b""]),
            args(&[b"GET", b"k"])
        ]
    );
}

#[test]
fn input_fed_one_byte_at_a_time_matches_one_shot() {
    let input =
        b"*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\nSET \"a b\" 'c'\n\r\n*0\r\n*-1\r\n*1\r\n$1\r\nx\r\n";
    let cuts: Vec<usize> = (1..input.len()).collect();
    assert_eq!(
        decode_split(input, &cuts).unwrap(),
        decode_all(input, &limits()).unwrap()
    );
}

#[test]
fn empty_lines_and_empty_multibulks_are_skipped() {
    let input = b"\r\n\n   \r\n*0\r\n*-1\r\n*-10\r\nPING\r\n";
    assert_eq!(
        decode_all(input, &limits()).unwrap(),
        vec![args(&[b"PING"])]
    );
}

#[test]
fn inline_quotes_and_escapes() {
    let cases: &[(&[u8], Vec<Bytes>)] = &[
        (b"set a b\r\n", args(&[b"set", b"a", b"b"])),
        (b"  set\t a   b  \n", args(&[b"set", b"a", b"b"])),
        (b"set \"a b\" c\r\n", args(&[b"set", b"a b", b"c"])),
        (b"x \"\\x41\\x4a\\xzz\"\r\n", args(&[b"x", b"AJxzz"])),
        (
            b"x \"\\n\\r\\t\\b\\a\\\\\\\"\\q\"\r\n",
            args(&[b"x", b"\n\r\t\x08\x07\\\"q"]),
        ),
        (b"x 'it\\'s' '\\n'\r\n", args(&[b"x", b"it's", b"\\n"])),
        (b"x \"\"\r\n", args(&[b"x", b""])),
        (b"x a\"b c\" d\r\n", args(&[b"x", b"ab c", b"d"])),
        (b"x \"a\"\x0bb\r\n", args(&[b"x", b"a", b"b"])),
    ];
    for (input, want) in cases {
        assert_eq!(
            &decode_all(input, &limits()).unwrap(),
            &vec![want.clone()],
            "{input:?}"
        );
    }
}

#[test]
fn inline_unbalanced_quotes() {
    for input in [
        &b"set \"a\r\n"[..],
        b"set 'a\r\n",
        b"set \"a\"b\r\n",
        b"set 'a'b\r\n",
        b"x a\"b\"c\r\n",
        b"x \"a\\\"\r\n",
    ] {
        assert_eq!(
            error_of(input, &limits()),
            "Protocol error: unbalanced quotes in request",
            "{input:?}"
        );
    }
}

#[test]
fn every_error_text() {
    let small = RequestLimits {
        max_inline_len: 16,
        ..limits()
    };
    let unauth = RequestLimits {
        authenticated: false,
        ..limits()
    };
    let cases: Vec<(Vec<u8>, &RequestLimits, &str)> = vec![
        (
            b"*x\r\n".to_vec(),
            &small,
            "Protocol error: invalid multibulk length",
        ),
        (
            b"*3000000000\r\n".to_vec(),
            &small,
            "Protocol error: invalid multibulk length",
        ),
        (
            b"*1\r\n$-1\r\n".to_vec(),
            &small,
            "Protocol error: invalid bulk length",
        ),
        (
            b"*1\r\n$01\r\n".to_vec(),
            &small,
            "Protocol error: invalid bulk length",
        ),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n".to_vec(),
            &small,
            "Protocol error: expected '$', got 'f'",
        ),
        (
            vec![b'a'; 17],
            &small,
            "Protocol error: too big inline request",
        ),
        (
            b"set \"a\n".to_vec(),
            &small,
            "Protocol error: unbalanced quotes in request",
        ),
        (
            b"*11111111111111111".to_vec(),
            &small,
            "Protocol error: too big mbulk count string",
        ),
        (
            b"*1\r\n$1111111111111111".to_vec(),
            &small,
            "Protocol error: too big bulk count string",
        ),
        (
            b"*11\r\n".to_vec(),
            &unauth,
            "Protocol error: unauthenticated multibulk length",
        ),
        (
            b"*1\r\n$16385\r\n".to_vec(),
            &unauth,
            "Protocol error: unauthenticated bulk length",
        ),
    ];
    for (input, limits, want) in cases {
        assert_eq!(error_of(&input, limits), want, "{input:?}");
    }
}

#[test]
fn expected_dollar_message_maps_crlf_to_space() {
    let err = decode_all(b"*1\r\n\r\n", &limits()).unwrap_err();
    assert_eq!(err, ProtocolError::ExpectedDollar(b'\r'));
    assert_eq!(err.message(), b"Protocol error: expected '$', got ' '");
    assert_eq!(
        ProtocolError::ExpectedDollar(0xff).message().last(),
        Some(&b'\'')
    );
}

#[test]
fn limits_at_their_edges() {
    let unauth = RequestLimits {
        authenticated: false,
        ..limits()
    };
    let ten: Vec<Vec<u8>> = (0..10).map(|i| vec![b'a' + i]).collect();
    assert_eq!(decode_all(&multibulk(&ten), &unauth).unwrap().len(), 1);
    let bulk = vec![b'x'; 16384];
    assert_eq!(decode_all(&multibulk(&[bulk]), &unauth).unwrap().len(), 1);

    let tight = RequestLimits {
        max_bulk_len: 5,
        ..limits()
    };
    assert!(decode_all(b"*1\r\n$5\r\nhello\r\n", &tight).is_ok());
    assert_eq!(
        error_of(b"*1\r\n$6\r\nhello!\r\n", &tight),
        "Protocol error: invalid bulk length"
    );
    // Exactly the inline limit without a newline still waits for more.
    let small = RequestLimits {
        max_inline_len: 16,
        ..limits()
    };
    assert_eq!(
        decode_all(&[b'a'; 16], &small).unwrap(),
        Vec::<Vec<Bytes>>::new()
    );
}

#[test]
fn count_header_waits_for_the_byte_after_cr() {
    let mut dec = RequestDecoder::new();
    let mut buf = BytesMut::from(&b"*1\r"[..]);
    assert_eq!(dec.decode(&mut buf, &limits()).unwrap(), None);
    buf.extend_from_slice(b"\n$1\r\nx\r\n");
    assert_eq!(
        dec.decode(&mut buf, &limits()).unwrap(),
        Some(args(&[b"x"]))
    );
    assert!(buf.is_empty());
}

#[test]
fn nul_before_newline_waits_like_strchr() {
    // Redis's strchr stops at the NUL, so the line never completes below the limit.
    let mut dec = RequestDecoder::new();
    let mut buf = BytesMut::from(&b"PING\0\r\n"[..]);
    assert_eq!(dec.decode(&mut buf, &limits()).unwrap(), None);
    // Bulk data may hold NULs freely.
    assert_eq!(
        decode_all(b"*1\r\n$3\r\n\0\0\0\r\n", &limits()).unwrap(),
        vec![args(&[b"\0\0\0"])]
    );
}

/// A 1 MiB bulk arriving in 4 KiB reads: the room is reserved once when the header is
/// read, every later read only lowers `bytes_needed`, and the argument is the buffer itself.
#[test]
fn huge_bulk_in_chunks_is_reserved_once_and_never_rescanned() {
    const LEN: usize = 1 << 20;
    let mut dec = RequestDecoder::new();
    let mut buf = BytesMut::from(&format!("*2\r\n$3\r\nSET\r\n${LEN}\r\n")[..]);
    assert_eq!(dec.decode(&mut buf, &limits()).unwrap(), None);
    assert_eq!(dec.bytes_needed(), LEN + 2);
    assert!(buf.capacity() >= LEN + 2);
    let start = buf.as_ptr();
    let mut payload = vec![b'v'; LEN];
    payload.extend_from_slice(b"\r\n");
    for (i, chunk) in payload.chunks(4096).enumerate() {
        buf.extend_from_slice(chunk);
        assert_eq!(buf.as_ptr(), start, "buffer moved at chunk {i}");
        match dec.decode(&mut buf, &limits()).unwrap() {
            None => assert_eq!(dec.bytes_needed(), LEN + 2 - (i + 1) * 4096),
            Some(cmd) => {
                assert_eq!(cmd[0], &b"SET"[..]);
                assert_eq!(cmd[1].len(), LEN);
                assert_eq!(cmd[1].as_ptr(), start, "argument was copied");
                assert_eq!(dec.bytes_needed(), 0);
            }
        }
    }
}

#[test]
fn error_resets_the_decoder() {
    let mut dec = RequestDecoder::new();
    let mut buf = BytesMut::from(&b"*x\r\n"[..]);
    assert!(dec.decode(&mut buf, &limits()).is_err());
    let mut buf = BytesMut::from(&b"PING\r\n"[..]);
    assert_eq!(
        dec.decode(&mut buf, &limits()).unwrap(),
        Some(args(&[b"PING"]))
    );
}

proptest! {
    #[test]
    fn multibulk_round_trips_through_any_split(
        cmds in prop::collection::vec(
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..6), 1..5),
        mut cuts in prop::collection::vec(0usize..2000, 0..8),
    ) {
        let mut input = Vec::new();
        for c in &cmds {
            input.extend_from_slice(&multibulk(c));
        }
        cuts.sort_unstable();
        let got = decode_split(&input, &cuts).unwrap();
        let want: Vec<Vec<Bytes>> = cmds
            .iter()
            .map(|c| c.iter().map(|a| Bytes::copy_from_slice(a)).collect())
            .collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn arbitrary_bytes_split_anywhere_decode_like_one_shot(
        input in prop::collection::vec(
            prop::sample::select(b"*$\r\n 0123-'\"\\xaz".to_vec()), 0..64),
        cut in 0usize..64,
    ) {
        let one = decode_all(&input, &limits());
        let split = decode_split(&input, &[cut]);
        if let Ok(one) = one {
            prop_assert_eq!(split, Ok(one));
        }
    }
}
