//! Tests of the reply encoder: every method under RESP2 and RESP3, and Redis's double text.

use super::*;

fn both(write: impl Fn(&mut ReplyWriter)) -> (Vec<u8>, Vec<u8>) {
    let mut r2 = ReplyWriter::new(Protocol::Resp2);
    let mut r3 = ReplyWriter::new(Protocol::Resp3);
    write(&mut r2);
    write(&mut r3);
    (r2.buf.to_vec(), r3.buf.to_vec())
}

#[test]
fn every_method_in_resp2_and_resp3() {
    type Case = (
        &'static str,
        Box<dyn Fn(&mut ReplyWriter)>,
        &'static [u8],
        &'static [u8],
    );
    let cases: Vec<Case> = vec![
        (
            "simple",
            Box::new(|w| w.simple(b"PONG")),
            b"+PONG\r\n",
            b"+PONG\r\n",
        ),
        ("ok", Box::new(|w| w.ok()), b"+OK\r\n", b"+OK\r\n"),
        (
            "error",
            Box::new(|w| w.error(b"ERR bad\r\nthing")),
            b"-ERR bad  thing\r\n",
            b"-ERR bad  thing\r\n",
        ),
        ("int", Box::new(|w| w.int(-42)), b":-42\r\n", b":-42\r\n"),
        (
            "bulk",
            Box::new(|w| w.bulk(b"hi")),
            b"$2\r\nhi\r\n",
            b"$2\r\nhi\r\n",
        ),
        (
            "empty bulk",
            Box::new(|w| w.bulk(b"")),
            b"$0\r\n\r\n",
            b"$0\r\n\r\n",
        ),
        (
            "bulk_from_int",
            Box::new(|w| w.bulk_from_int(-7)),
            b"$2\r\n-7\r\n",
            b"$2\r\n-7\r\n",
        ),
        ("null", Box::new(|w| w.null()), b"$-1\r\n", b"_\r\n"),
        (
            "null_array",
            Box::new(|w| w.null_array()),
            b"*-1\r\n",
            b"_\r\n",
        ),
        ("array", Box::new(|w| w.array(3)), b"*3\r\n", b"*3\r\n"),
        ("map", Box::new(|w| w.map(2)), b"*4\r\n", b"%2\r\n"),
        ("set", Box::new(|w| w.set(2)), b"*2\r\n", b"~2\r\n"),
        ("push", Box::new(|w| w.push(3)), b"*3\r\n", b">3\r\n"),
        (
            "double",
            Box::new(|w| w.double(1.5)),
            b"$3\r\n1.5\r\n",
            b",1.5\r\n",
        ),
        (
            "double inf",
            Box::new(|w| w.double(f64::INFINITY)),
            b"$3\r\ninf\r\n",
            b",inf\r\n",
        ),
        (
            "double -inf",
            Box::new(|w| w.double(f64::NEG_INFINITY)),
            b"$4\r\n-inf\r\n",
            b",-inf\r\n",
        ),
        (
            "double nan",
            Box::new(|w| w.double(f64::NAN)),
            b"$3\r\nnan\r\n",
            b",nan\r\n",
        ),
        (
            "boolean t",
            Box::new(|w| w.boolean(true)),
            b":1\r\n",
            b"#t\r\n",
        ),
        (
            "boolean f",
            Box::new(|w| w.boolean(false)),
            b":0\r\n",
            b"#f\r\n",
        ),
        (
            "big_number",
            Box::new(|w| w.big_number(b"123")),
            b"$3\r\n123\r\n",
            b"(123\r\n",
        ),
        (
            "verbatim",
            Box::new(|w| w.verbatim(b"txt", b"hi")),
            b"$2\r\nhi\r\n",
            b"=6\r\ntxt:hi\r\n",
        ),
    ];
    for (name, write, want2, want3) in cases {
        let (got2, got3) = both(write);
        assert_eq!(got2, want2, "{name} resp2");
        assert_eq!(got3, want3, "{name} resp3");
    }
}

#[test]
fn attribute_in_resp3() {
    let mut w = ReplyWriter::new(Protocol::Resp3);
    w.attribute(1);
    assert_eq!(&w.buf[..], b"|1\r\n");
}

#[test]
fn truncate_rolls_back_a_partial_reply() {
    let mut w = ReplyWriter::new(Protocol::Resp2);
    w.ok();
    let mark = w.len();
    w.array(2);
    w.bulk(b"a");
    w.truncate(mark);
    w.error(b"ERR oops");
    assert_eq!(&w.buf[..], b"+OK\r\n-ERR oops\r\n");
}

fn text(d: f64) -> String {
    let mut buf = [0u8; DOUBLE_TEXT_MAX];
    String::from_utf8_lossy(format_double_reply(d, &mut buf)).into_owned()
}

#[test]
fn doubles_read_like_redis_d2string() {
    let cases: &[(f64, &str)] = &[
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (-3.0, "-3"),
        (1.5, "1.5"),
        (0.1, "0.1"),
        (-0.25, "-0.25"),
        (3.25, "3.25"),
        (0.001, "0.001"),
        (0.0001, "0.0001"),
        (0.00012, "0.00012"),
        (0.000_012_3, "1.23e-5"),
        (1.0e-7, "1e-7"),
        (123.456, "123.456"),
        (4611686018427387904.0, "4611686018427387904"),
        (9223372036854775808.0, "9223372036854776000"),
        (1.0e19, "1e+19"),
        (1.5e20, "1.5e+20"),
        (1.0e300, "1e+300"),
        (-1.0e-300, "-1e-300"),
        (f64::MAX, "1.7976931348623157e+308"),
        (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
        (5e-324, "5e-324"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1.0 / 3.0, "0.3333333333333333"),
        (f64::NAN, "nan"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
    ];
    for &(d, want) in cases {
        assert_eq!(text(d), want, "{d:e}");
    }
}

proptest::proptest! {
    #[test]
    fn double_text_round_trips(bits in proptest::prelude::any::<u64>()) {
        let d = f64::from_bits(bits);
        let t = text(d);
        if d.is_nan() {
            proptest::prop_assert_eq!(t, "nan");
        } else {
            let back: f64 = t.parse().unwrap();
            proptest::prop_assert_eq!(back.to_bits(), d.to_bits());
        }
    }
}
