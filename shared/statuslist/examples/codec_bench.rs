//! `make bench` codec figures: encode and decode 2^20 statuses at 1, 2, 4 and 8 bits, TSL (ZLIB,
//! LSB-first) and W3C (GZIP, MSB-first), medians over repeated runs, as JSON on stdout.
//!
//!     cargo run --release -p trustfn-statuslist --example codec_bench -- <out dir> [runs]
//!
//! Also writes, per width, the input statuses (`values-<bits>.bin`, one byte each), the packed
//! TSL bytes (`packed-<bits>.bin`, for the raw-zlib floor) and our `lst` (`lst-<bits>.txt`), so
//! the comparison scripts run on the same data and cross-check our output.

use std::time::Instant;

use trustfn_statuslist::bits::{BitOrder, StatusArray};
use trustfn_statuslist::codec;

const ENTRIES: usize = 1 << 20;

/// Deterministic statuses: about 5% of entries carry a non-zero value (revoked, suspended, ...).
fn statuses(bits: u8) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ bits as u64;
    let max = (1u16 << bits) - 1;
    (0..ENTRIES)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x % 100 < 5 {
                (1 + (x >> 32) % max as u64) as u8
            } else {
                0
            }
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut out = None;
    let ms = (0..runs)
        .map(|_| {
            let t = Instant::now();
            out = Some(std::hint::black_box(f()));
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    (median(ms), out.expect("at least one run"))
}

fn pack(values: &[u8], bits: u8, order: BitOrder) -> StatusArray {
    StatusArray::from_values(bits, values, order).expect("values fit")
}

fn unpack(a: &StatusArray) -> Vec<u8> {
    let mut v = a.values();
    v.truncate(ENTRIES);
    v
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("usage: codec_bench <out dir> [runs]"));
    let runs: usize = args.next().map_or(11, |r| r.parse().expect("runs"));
    std::fs::create_dir_all(&dir).expect("out dir");
    let mut report = serde_json::Map::new();
    for bits in [1u8, 2, 4, 8] {
        let values = statuses(bits);
        let (tsl_enc, lst) = time(runs, || {
            codec::tsl_lst(&pack(&values, bits, BitOrder::LsbFirst))
        });
        let (tsl_dec, back) = time(runs, || {
            unpack(&codec::tsl_decode(bits, &lst).expect("decodes"))
        });
        assert_eq!(back, values, "TSL round trip");
        let (w3c_enc, enc) = time(runs, || {
            codec::w3c_encoded_list(&pack(&values, bits, BitOrder::MsbFirst), true)
        });
        let (w3c_dec, back) = time(runs, || {
            unpack(&codec::w3c_decode(bits, &enc).expect("decodes"))
        });
        assert_eq!(back, values, "W3C round trip");
        let packed = pack(&values, bits, BitOrder::LsbFirst);
        // What a lower level would save (the TSL draft recommends the highest).
        let (level6_ms, level6) = time(runs, || {
            use std::io::Write;
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
            e.write_all(packed.bytes()).expect("in memory");
            e.finish().expect("in memory")
        });
        let level9 = codec::zlib(packed.bytes());
        let gz = pack(&values, bits, BitOrder::MsbFirst);
        std::fs::write(dir.join(format!("values-{bits}.bin")), &values).expect("write");
        std::fs::write(dir.join(format!("packed-{bits}.bin")), packed.bytes()).expect("write");
        std::fs::write(dir.join(format!("packed-msb-{bits}.bin")), gz.bytes()).expect("write");
        std::fs::write(dir.join(format!("lst-{bits}.txt")), &lst).expect("write");
        report.insert(
            bits.to_string(),
            serde_json::json!({
                "entries": ENTRIES, "runs": runs,
                "tsl_encode_ms": tsl_enc, "tsl_decode_ms": tsl_dec, "lst_chars": lst.len(),
                "zlib_level6_ms": level6_ms, "zlib_level6_bytes": level6.len(),
                "zlib_level9_bytes": level9.len(),
                "w3c_encode_ms": w3c_enc, "w3c_decode_ms": w3c_dec, "encoded_list_chars": enc.len(),
            }),
        );
    }
    println!("{}", serde_json::Value::Object(report));
}
