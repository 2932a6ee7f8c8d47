//! `make bench PARTS=scale`: one list of `size` entries and `bits` bits, 10% allocated and 5%
//! revoked, driven through the status use cases against the in-memory repository (DynamoDB's
//! limits enforced) with a counting wrapper, a local signer and a registry that keeps uploads.
//!
//!     cargo run --release -p trustfn-status --example scale_bench -- <size> <bits> [runs]
//!
//! Prints one JSON object: bytes written to the table per allocation call (1,000 entries) and
//! per update call (one status, and 1,000 statuses), allocation latency, fold + publish time of
//! one update, the largest item, the size the whole-list item of the previous design would have
//! for the same statuses, and the process's peak RSS.

use std::time::Instant;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::seq::IndexedRandom;
use rand::SeedableRng;
use serde_json::{json, Value};
use trustfn_domain::auth::act;
use trustfn_domain::repo::{Op, Pending, Repository};
use trustfn_domain::Target;
use trustfn_publish::{Clock, PublishDeps, SystemClock};
use trustfn_status::config::{self, CreateConfig};
use trustfn_status::entries::{self, Allocate};
use trustfn_status::update::{self, UpdateBody};
use trustfn_testkit::memory::{item_size, pending_size};
use trustfn_testkit::{admin, seed_status_service, FakeKms, FakeSecrets, RecordingRegistry};
use trustfn_testkit::{MemoryRepo, Metered};

const CFG: &str = "acme.t1.st.national";

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn peak_rss_kib() -> u64 {
    status_kib("VmHWM:")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let size: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1 << 20);
    let bits: u8 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1);
    let runs: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(15);
    let repo = Metered::new(MemoryRepo::new());
    let kms = FakeKms::default();
    let registry = RecordingRegistry::default();
    let deps = PublishDeps {
        kms: &kms,
        secrets: &FakeSecrets,
        registries: &registry,
        clock: &SystemClock,
        // A bench publishes as long as it takes.
        deadline_ms: SystemClock.now_ms() + 3_600_000,
    };
    seed_status_service(&repo, &kms).await;
    let body: CreateConfig = serde_json::from_value(json!({"kid": "acme.t1.kms.k",
        "config": {"type": "TokenStatusList", "statusSize": bits, "size": size}}))
    .unwrap();
    config::create_config(&repo, &admin::<act::StatusConfigCreate>(CFG), body)
        .await
        .unwrap();

    // 10% allocated, 1,000 entries a call; the first call opens (and publishes) the list.
    let target = (size / 10).max(1000);
    // (entry id, index) of every entry handed out: the answers themselves would dwarf the table.
    let mut entries: Vec<(String, u64)> = Vec::with_capacity(target as usize);
    let mut list_name = String::new();
    let mut alloc_ms = Vec::new();
    let mut alloc_bytes = Vec::new();
    while (entries.len() as u64) < target {
        repo.take();
        let t = Instant::now();
        let body = Allocate {
            count: Some(1000),
            initial_status: None,
            idempotency_key: None,
        };
        let out = entries::allocate(&repo, &deps, &admin::<act::StatusEntryAllocate>(CFG), body)
            .await
            .unwrap();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let bytes = repo.take();
        if !entries.is_empty() {
            alloc_ms.push(ms);
            alloc_bytes.push(bytes as f64);
        }
        for e in out.body.unwrap()["entries"].as_array().unwrap() {
            list_name = e["list"].as_str().unwrap().to_owned();
            entries.push((
                e["id"].as_str().unwrap().to_owned(),
                e["index"].as_u64().unwrap(),
            ));
        }
    }
    let list_id = Target::parse(&format!("{CFG}.{list_name}")).unwrap();

    // 5% revoked, through pending changes folded and published once (untimed set-up).
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let revoked: Vec<&(String, u64)> = entries
        .choose_multiple(&mut rng, (size / 20) as usize)
        .collect();
    let setup = Instant::now();
    for (k, batch) in revoked.chunks(1000).enumerate() {
        let changes = batch.iter().map(|e| (e.1 as u32, 1)).collect();
        repo.inner
            .commit(vec![Op::AddPending(Pending {
                list: list_id.clone(),
                seq: format!("{k:016x}"),
                changes,
                due_at: 0,
                by: None,
            })])
            .await
            .unwrap();
    }
    trustfn_status::publish(&repo, &deps, &list_id)
        .await
        .unwrap();
    let setup_s = setup.elapsed().as_secs_f64();
    let rss_before_updates = peak_rss_kib();
    // Give the set-up's freed heap back, so what the update calls need shows as growth.
    // SAFETY: malloc_trim only releases free memory of the allocator.
    unsafe {
        libc::malloc_trim(0);
    }
    let rss_at_reset = status_kib("VmRSS:");
    // From here on, the peak is what folding and publishing add (Linux: 5 resets VmHWM).
    let _ = std::fs::write("/proc/self/clear_refs", "5");

    // One status per call, then 1,000 statuses per call: each call stores its change and folds
    // and publishes it (what the update function does).
    let auth = admin::<act::StatusUpdate>(CFG);
    let upd = |body: Value| {
        let body: UpdateBody = serde_json::from_value(body).unwrap();
        update::update(&repo, &deps, &auth, body)
    };
    let mut one_bytes = Vec::new();
    let mut one_request_bytes = Vec::new();
    let mut one_ms = Vec::new();
    for e in entries.choose_multiple(&mut rng, runs) {
        // The request's own write (the pending change), then the fold and publish it triggers.
        let p = Pending {
            list: list_id.clone(),
            seq: "0000000000000000".into(),
            changes: vec![(e.1 as u32, 1)],
            due_at: 0,
            by: None,
        };
        one_request_bytes.push(pending_size(&p) as f64);
        repo.take();
        let t = Instant::now();
        upd(json!({"entry": e.0, "status": "0x1"})).await.unwrap();
        one_ms.push(t.elapsed().as_secs_f64() * 1e3);
        one_bytes.push(repo.take() as f64);
    }
    let mut batch_bytes = Vec::new();
    let mut batch_ms = Vec::new();
    for _ in 0..runs.min(5) {
        let updates: Vec<Value> = entries
            .choose_multiple(&mut rng, 1000)
            .map(|e| json!({"entry": e.0, "status": "0x1"}))
            .collect();
        repo.take();
        let t = Instant::now();
        upd(json!({"updates": updates})).await.unwrap();
        batch_ms.push(t.elapsed().as_secs_f64() * 1e3);
        batch_bytes.push(repo.take() as f64);
    }

    // The previous design's list item: statuses and allocation bitmap, zlib and base64, in one
    // record rewritten by every allocation and every fold.
    let publish_rss = peak_rss_kib();
    let published = registry.bodies(&format!("status-lists/{CFG}/{list_name}"));
    let jwt = String::from_utf8(published.last().unwrap().clone()).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let lst = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims["status_list"]["lst"].as_str().unwrap())
        .unwrap();
    let mut bitmap = trustfn_statuslist::StatusArray::new(
        1,
        size as usize,
        trustfn_statuslist::BitOrder::LsbFirst,
    )
    .unwrap();
    for e in &entries {
        bitmap.set(e.1 as usize, 1).unwrap();
    }
    let previous_item = B64.encode(&lst).len()
        + B64
            .encode(trustfn_statuslist::codec::zlib(bitmap.bytes()))
            .len();
    let (largest_chunk, chunks) = repo.inner.chunk_stats().await;
    let list_record = item_size(&repo.inner.get(&list_id).await.unwrap().unwrap());
    let out = json!({
        "size": size, "bits": bits, "allocated": entries.len(), "revoked": revoked.len(),
        "alloc_call_bytes": median(alloc_bytes), "alloc_call_ms": median(alloc_ms),
        "update_request_bytes": median(one_request_bytes),
        "update_call_bytes": median(one_bytes), "update_call_ms": median(one_ms),
        "update_1000_call_bytes": median(batch_bytes), "update_1000_call_ms": median(batch_ms),
        "largest_item": largest_chunk.max(list_record).max(repo.largest()),
        "chunks": chunks, "list_record": list_record,
        "published_bytes": jwt.len(), "previous_item_bytes": previous_item,
        "setup_s": setup_s, "rss_before_updates_kib": rss_before_updates,
        "update_peak_rss_kib": publish_rss, "rss_at_reset_kib": rss_at_reset,
        "update_added_rss_kib": publish_rss.saturating_sub(rss_at_reset),
        "peak_rss_kib": peak_rss_kib(), "runs": runs,
    });
    println!("{out}");
}
