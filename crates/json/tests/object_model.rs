//! `Object` (one allocation behind an interned key list) against a `Vec<(String, i64)>`
//! oracle: inserts, removes, clones and drops in any order keep the members, their order and
//! the interner consistent.

use json::shape::Shape;
use json::{Object, Value};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Insert(String, i64),
    Remove(String),
    Clone,
    Clear,
}

fn op() -> impl Strategy<Value = Op> {
    let key = "[a-d]{0,2}|k[a-z]{20,140}";
    prop_oneof![
        4 => (key, any::<i64>()).prop_map(|(k, v)| Op::Insert(k, v)),
        2 => key.prop_map(Op::Remove),
        1 => Just(Op::Clone),
        1 => Just(Op::Clear),
    ]
}

fn int(v: Option<&Value>) -> Option<i64> {
    match v {
        Some(Value::Int(i)) => Some(*i),
        _ => None,
    }
}

proptest! {
    #[test]
    fn objects_behave_as_an_ordered_map(ops in prop::collection::vec(op(), 0..40)) {
        let mut obj = Object::new();
        let mut model: Vec<(String, i64)> = Vec::new();
        let mut clones = Vec::new();
        for op in ops {
            match op {
                Op::Insert(k, v) => {
                    obj.insert(&k, Value::Int(v));
                    match model.iter_mut().find(|(mk, _)| *mk == k) {
                        Some(e) => e.1 = v,
                        None => model.push((k, v)),
                    }
                }
                Op::Remove(k) => {
                    let got = int(obj.remove(&k).as_ref());
                    let want = model.iter().position(|(mk, _)| *mk == k).map(|i| model.remove(i).1);
                    prop_assert_eq!(got, want);
                }
                Op::Clone => clones.push((obj.clone(), model.clone())),
                Op::Clear => {
                    obj.clear();
                    model.clear();
                }
            }
            prop_assert_eq!(obj.len(), model.len());
            let members: Vec<(String, i64)> =
                obj.iter().map(|(k, v)| (k.to_string(), int(Some(v)).unwrap_or(i64::MIN))).collect();
            prop_assert_eq!(&members, &model);
            for (k, v) in &model {
                prop_assert_eq!(int(obj.get(k)), Some(*v));
            }
        }
        for (c, m) in &clones {
            let members: Vec<(String, i64)> =
                c.iter().map(|(k, v)| (k.to_string(), int(Some(v)).unwrap_or(i64::MIN))).collect();
            prop_assert_eq!(&members, m);
        }
        let entries: Vec<(String, i64)> =
            obj.into_entries().into_iter().map(|(k, v)| (k, int(Some(&v)).unwrap_or(i64::MIN))).collect();
        prop_assert_eq!(entries, model);
    }
}

/// Objects with the same keys share one key list, which goes when the last of them goes.
#[test]
fn key_lists_are_shared_and_freed() {
    let text = r#"[{"zq_unique_a":1,"zq_unique_b":[2]},{"zq_unique_a":3,"zq_unique_b":[4]}]"#;
    let mut keys = Vec::new();
    for k in ["zq_unique_a", "zq_unique_b"] {
        keys.push(k.len() as u8);
        keys.extend_from_slice(k.as_bytes());
    }
    let doc = json::parse(text).unwrap();
    assert!(Shape::is_interned(&keys));
    let one = json::parse(r#"{"zq_unique_a":1,"zq_unique_b":[2]}"#).unwrap();
    // Two objects sharing: each is charged half of the key list.
    let (Value::Object(o), Value::Array(a)) = (&one, &doc) else {
        panic!("parsed shapes")
    };
    assert!(a.len() == 2 && o.len() == 2);
    let copy = doc.clone();
    drop(doc);
    drop(one);
    assert!(Shape::is_interned(&keys));
    drop(copy);
    assert!(!Shape::is_interned(&keys));
}
