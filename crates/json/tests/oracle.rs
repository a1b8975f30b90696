//! The parser and serializer against serde_json (RedisJSON's own parser): same texts out,
//! same error messages and positions; and the memory target for a product document.

use proptest::prelude::*;

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|i| serde_json::json!(i)),
        any::<u64>().prop_map(|u| serde_json::json!(u)),
        (-1e300f64..1e300).prop_map(|f| serde_json::json!(f)),
        "\\PC{0,20}".prop_map(serde_json::Value::String),
        "[\\x00-\\x1f\"\\\\a-z]{0,8}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::Array),
            prop::collection::vec(("[a-z]{0,3}", inner), 0..8)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn serializes_as_serde_json(v in arb_json()) {
        let text = serde_json::to_string(&v).unwrap();
        let ours = json::parse(&text).unwrap();
        prop_assert_eq!(json::ser::to_string(ours.node()), text);
    }

    #[test]
    fn errors_as_serde_json(s in "[\\[\\]{}\",:0-9a-z .\\-\\\\]{0,12}") {
        let theirs = serde_json::from_str::<serde_json::Value>(&s).map_err(|e| e.to_string());
        let ours = json::parse(&s).map_err(|e| e.to_string());
        match (theirs, ours) {
            (Ok(_), Ok(_)) => {}
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            (a, b) => prop_assert!(false, "serde_json {:?} vs ours {:?}", a, b.map(|_| ())),
        }
    }
}

#[test]
fn nesting_limit_is_serde_jsons() {
    let ok = format!("{}{}", "[".repeat(127), "]".repeat(127));
    assert!(json::parse(&ok).is_ok());
    let deep = "[".repeat(100_000);
    assert_eq!(
        json::parse(&deep).unwrap_err().to_string(),
        "recursion limit exceeded at line 1 column 128"
    );
}

/// Four products of DummyJSON's catalog (MIT licence; `dummyjson-products.json`), in compact
/// form: ~1.5 KB each, with nested arrays of strings and of objects. The first is the
/// representative document of the issue's memory target.
const PRODUCTS: [&str; 4] = [
    r##"{"id":6,"title":"Calvin Klein CK One","description":"CK One by Calvin Klein is a classic unisex fragrance, known for its fresh and clean scent. It's a versatile fragrance suitable for everyday wear.","category":"fragrances","price":49.99,"discountPercentage":1.89,"rating":4.37,"stock":29,"tags":["fragrances","perfumes"],"brand":"Calvin Klein","sku":"FRA-CAL-CAL-006","weight":7,"dimensions":{"width":29.36,"height":27.76,"depth":20.72},"warrantyInformation":"1 week warranty","shippingInformation":"Ships overnight","availabilityStatus":"In Stock","reviews":[{"rating":2,"comment":"Very disappointed!","date":"2025-04-30T09:41:02.053Z","reviewerName":"Layla Young","reviewerEmail":"layla.young@x.dummyjson.com"},{"rating":4,"comment":"Fast shipping!","date":"2025-04-30T09:41:02.053Z","reviewerName":"Daniel Cook","reviewerEmail":"daniel.cook@x.dummyjson.com"},{"rating":3,"comment":"Not as described!","date":"2025-04-30T09:41:02.053Z","reviewerName":"Jacob Cooper","reviewerEmail":"jacob.cooper@x.dummyjson.com"}],"returnPolicy":"90 days return policy","minimumOrderQuantity":9,"meta":{"createdAt":"2025-04-30T09:41:02.053Z","updatedAt":"2025-04-30T09:41:02.053Z","barcode":"2451534060749","qrCode":"https://cdn.dummyjson.com/public/qr-code.png"},"images":["https://cdn.dummyjson.com/product-images/fragrances/calvin-klein-ck-one/1.webp","https://cdn.dummyjson.com/product-images/fragrances/calvin-klein-ck-one/2.webp","https://cdn.dummyjson.com/product-images/fragrances/calvin-klein-ck-one/3.webp"],"thumbnail":"https://cdn.dummyjson.com/product-images/fragrances/calvin-klein-ck-one/thumbnail.webp"}"##,
    r##"{"id":1,"title":"Essence Mascara Lash Princess","description":"The Essence Mascara Lash Princess is a popular mascara known for its volumizing and lengthening effects. Achieve dramatic lashes with this long-lasting and cruelty-free formula.","category":"beauty","price":9.99,"discountPercentage":10.48,"rating":2.56,"stock":99,"tags":["beauty","mascara"],"brand":"Essence","sku":"BEA-ESS-ESS-001","weight":4,"dimensions":{"width":15.14,"height":13.08,"depth":22.99},"warrantyInformation":"1 week warranty","shippingInformation":"Ships in 3-5 business days","availabilityStatus":"In Stock","reviews":[{"rating":3,"comment":"Would not recommend!","date":"2025-04-30T09:41:02.053Z","reviewerName":"Eleanor Collins","reviewerEmail":"eleanor.collins@x.dummyjson.com"},{"rating":4,"comment":"Very satisfied!","date":"2025-04-30T09:41:02.053Z","reviewerName":"Lucas Gordon","reviewerEmail":"lucas.gordon@x.dummyjson.com"},{"rating":5,"comment":"Highly impressed!","date":"2025-04-30T09:41:02.053Z","reviewerName":"Eleanor Collins","reviewerEmail":"eleanor.collins@x.dummyjson.com"}],"returnPolicy":"No return policy","minimumOrderQuantity":48,"meta":{"createdAt":"2025-04-30T09:41:02.053Z","updatedAt":"2025-04-30T09:41:02.053Z","barcode":"5784719087687","qrCode":"https://cdn.dummyjson.com/public/qr-code.png"},"images":["https://cdn.dummyjson.com/product-images/beauty/essence-mascara-lash-princess/1.webp"],"thumbnail":"https://cdn.dummyjson.com/product-images/beauty/essence-mascara-lash-princess/thumbnail.webp"}"##,
    r##"{"id":31,"title":"Lemon","description":"Zesty and tangy lemons, versatile for cooking, baking, or making refreshing beverages.","category":"groceries","price":0.79,"discountPercentage":9.7,"rating":3.53,"stock":31,"tags":["fruits"],"sku":"GRO-BRD-LEM-031","weight":3,"dimensions":{"width":23.77,"height":9.22,"depth":12.05},"warrantyInformation":"No warranty","shippingInformation":"Ships in 1 month","availabilityStatus":"In Stock","reviews":[{"rating":5,"comment":"Awesome product!","date":"2025-04-30T09:41:02.053Z","reviewerName":"Logan Lawson","reviewerEmail":"logan.lawson@x.dummyjson.com"},{"rating":5,"comment":"Highly impressed!","date":"2025-04-30T09:41:02.053Z","reviewerName":"Avery Perez","reviewerEmail":"avery.perez@x.dummyjson.com"},{"rating":5,"comment":"Very satisfied!","date":"2025-04-30T09:41:02.053Z","reviewerName":"Benjamin Foster","reviewerEmail":"benjamin.foster@x.dummyjson.com"}],"returnPolicy":"7 days return policy","minimumOrderQuantity":29,"meta":{"createdAt":"2025-04-30T09:41:02.053Z","updatedAt":"2025-04-30T09:41:02.053Z","barcode":"4871812433378","qrCode":"https://cdn.dummyjson.com/public/qr-code.png"},"images":["https://cdn.dummyjson.com/product-images/groceries/lemon/1.webp"],"thumbnail":"https://cdn.dummyjson.com/product-images/groceries/lemon/thumbnail.webp"}"##,
    r##"{"id":101,"title":"Apple AirPods Max Silver","description":"The Apple AirPods Max in Silver are premium over-ear headphones with high-fidelity audio, adaptive EQ, and active noise cancellation. Experience immersive sound in style.","category":"mobile-accessories","price":549.99,"discountPercentage":13.67,"rating":3.47,"stock":59,"tags":["electronics","over-ear headphones"],"brand":"Apple","sku":"MOB-APP-APP-101","weight":2,"dimensions":{"width":24.88,"height":14.9,"depth":27.54},"warrantyInformation":"No warranty","shippingInformation":"Ships in 2 weeks","availabilityStatus":"In Stock","reviews":[{"rating":5,"comment":"Excellent quality!","date":"2025-04-30T09:41:02.053Z","reviewerName":"Henry Adams","reviewerEmail":"henry.adams@x.dummyjson.com"},{"rating":4,"comment":"Very happy with my purchase!","date":"2025-04-30T09:41:02.053Z","reviewerName":"Elijah Cruz","reviewerEmail":"elijah.cruz@x.dummyjson.com"},{"rating":4,"comment":"Would buy again!","date":"2025-04-30T09:41:02.053Z","reviewerName":"William Lopez","reviewerEmail":"william.lopez@x.dummyjson.com"}],"returnPolicy":"No return policy","minimumOrderQuantity":1,"meta":{"createdAt":"2025-04-30T09:41:02.053Z","updatedAt":"2025-04-30T09:41:02.053Z","barcode":"4062176053732","qrCode":"https://cdn.dummyjson.com/public/qr-code.png"},"images":["https://cdn.dummyjson.com/product-images/mobile-accessories/apple-airpods-max-silver/1.webp"],"thumbnail":"https://cdn.dummyjson.com/product-images/mobile-accessories/apple-airpods-max-silver/thumbnail.webp"}"##,
];

fn footprint(doc: &json::Document) -> usize {
    std::mem::size_of::<json::Value>() + doc.heap_size()
}

/// Bytes in memory per product document against its compact text, in a catalog where many
/// products share their key lists (as every product of a real catalog does), and alone.
/// Target (issue 6): at most 1.5x in a catalog. Before key interning: 2.07x alone.
#[test]
fn product_document_memory_ratio() {
    // A catalog of 100 products: 25 of each.
    let catalog: Vec<(usize, json::Document)> = (0..100)
        .map(|i| (i % 4, json::Document::parse(PRODUCTS[i % 4]).unwrap()))
        .collect();
    for (i, text) in PRODUCTS.iter().enumerate() {
        let doc = &catalog[i].1;
        // The texts are compact: they serialize back byte for byte.
        assert_eq!(&json::ser::to_string(doc.root.node()), text);
        let ratio = footprint(doc) as f64 / text.len() as f64;
        println!(
            "product {i}: {} bytes of JSON text, {} bytes in memory ({ratio:.2}x)",
            text.len(),
            footprint(doc)
        );
        if i == 0 {
            assert!(
                ratio <= 1.5,
                "{} bytes for {} bytes of text",
                footprint(doc),
                text.len()
            );
        }
        assert!(ratio <= 1.6, "product {i}: {ratio:.2}x");
    }
    drop(catalog);
    let alone = json::Document::parse(PRODUCTS[0]).unwrap();
    let ratio = footprint(&alone) as f64 / PRODUCTS[0].len() as f64;
    println!(
        "product 0 alone: {} bytes in memory ({ratio:.2}x)",
        footprint(&alone)
    );
    assert!(ratio <= 2.2, "alone: {ratio:.2}x");
}

#[test]
fn hex_escape_errors_as_serde_json() {
    for s in [
        "\"\\u:",
        "\"\\u1",
        "\"\\u12x4\"",
        "\"\\u12x",
        "\"\\uzzzz",
        "\"\\u00e9\"",
        "\"\\ud800\"",
        "\"\\ud800\\u12",
        "\"\\ud800\\uzz00\"",
        "[\"\\u004",
        "\"\\udc00\"",
        "\"\\ud800x\"",
        "\"\\ud800\\x\"",
        "\"\\ud800",
        "\"\\ud800\\",
        "\"\\ud800\\u",
        "\"\\ud800\\ud800\"",
        "\"\\ud83d\\ude00\"",
    ] {
        let theirs = serde_json::from_str::<serde_json::Value>(s).map_err(|e| e.to_string());
        let ours = json::parse(s).map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(ours, theirs.map(|_| ()), "{s:?}");
    }
}
