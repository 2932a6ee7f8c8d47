//! `make bench PARTS=audit`: what the audit log costs status updates. Rounds alternate between a
//! table without the log and the same table behind the auditing repository (as every function
//! runs it); each round seeds a fresh list, then `clients` concurrent callers make
//! `per_client` single-entry revocations through `status/update` (each answers once its change
//! is published: the pending item, then folds and publishes under the list's lease, coalesced).
//!
//!     cargo run --release -p trustfn-status --example audit_bench -- [clients] [per_client] [rounds]
//!
//! Prints one JSON object: for each variant the medians over its rounds of updates per second,
//! CPU milliseconds per update (the process is one thread), bytes written to the table per
//! update (as DynamoDB sizes items, counting the commits that took effect), read calls per
//! update, publishes, audit entries and refused commits (lost lease or chain-head races); and the
//! ratios. The table answers each read after `READ_MS` and each commit after `COMMIT_MS`, a
//! model of DynamoDB's round trips: without it the callers would never interleave.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use trustfn_domain::audit::context;
use trustfn_domain::audit::entry::Actor;
use trustfn_domain::audit::{Audited, DEFAULT_RETENTION_DAYS};
use trustfn_domain::auth::act;
use trustfn_domain::repo::Repository;
use trustfn_publish::{Clock, PublishDeps, SystemClock};
use trustfn_status::config::{self, CreateConfig};
use trustfn_status::entries::{self, Allocate};
use trustfn_status::update::{self, UpdateBody};
use trustfn_testkit::{
    admin, seed_status_service, FakeKms, FakeSecrets, MemoryRepo, Metered, RecordingRegistry,
};

const CFG: &str = "acme.t1.st.national";
const SIZE: u64 = 1 << 17;
/// A DynamoDB round trip in the same region, as modelled: a read, a (transactional) write.
const READ_MS: u64 = 4;
const COMMIT_MS: u64 = 10;

struct Round {
    updates_per_s: f64,
    cpu_ms_per_update: f64,
    bytes_per_update: f64,
    reads_per_update: f64,
    publishes: f64,
    audit_entries: f64,
    audit_bytes_per_update: f64,
    refused_commits: f64,
}

fn cpu_ms() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    ms(u.ru_utime) + ms(u.ru_stime)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

async fn round(audited: bool, clients: usize, per_client: usize) -> Round {
    let metered = Arc::new(Metered::new(MemoryRepo::new()).with_latency(
        Duration::from_millis(READ_MS),
        Duration::from_millis(COMMIT_MS),
    ));
    let repo: Arc<dyn Repository> = if audited {
        Arc::new(Audited::new(metered.clone(), DEFAULT_RETENTION_DAYS))
    } else {
        metered.clone()
    };
    // Leaked: the callers are spawned tasks, and a round's doubles are small.
    let kms: &'static FakeKms = Box::leak(Box::default());
    let registry: &'static RecordingRegistry = Box::leak(Box::default());
    let deps = move || PublishDeps {
        kms,
        secrets: &FakeSecrets,
        registries: registry,
        clock: &SystemClock,
        deadline_ms: SystemClock.now_ms() + 600_000,
    };
    seed_status_service(repo.as_ref(), kms).await;
    let body: CreateConfig = serde_json::from_value(json!({"kid": "acme.t1.kms.k",
        "config": {"type": "TokenStatusList", "statusSize": 1, "size": SIZE}}))
    .unwrap();
    config::create_config(repo.as_ref(), &admin::<act::StatusConfigCreate>(CFG), body)
        .await
        .unwrap();
    let mut ids = Vec::new();
    let mut list = String::new();
    while ids.len() < clients * per_client {
        let body = Allocate {
            count: Some(1000),
            initial_status: None,
            idempotency_key: None,
        };
        let out = entries::allocate(
            repo.as_ref(),
            &deps(),
            &admin::<act::StatusEntryAllocate>(CFG),
            body,
        )
        .await
        .unwrap();
        for e in out.body.unwrap()["entries"].as_array().unwrap() {
            ids.push(e["id"].as_str().unwrap().to_owned());
            list = format!("status-lists/{CFG}/{}", e["list"].as_str().unwrap());
        }
    }
    let head_before = metered.inner.audit_head("acme").await.unwrap();
    let uploads_before = registry.bodies(&list).len();
    metered.take();
    metered.take_reads();
    metered.take_failed();
    metered.take_audit();
    let cpu = cpu_ms();
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let mine: Vec<String> = ids[c * per_client..(c + 1) * per_client].to_vec();
        let repo = repo.clone();
        tasks.spawn(async move {
            let mut unpublished = 0;
            for (j, id) in mine.into_iter().enumerate() {
                let request = format!("bench-{c}-{j}");
                let call = async {
                    let body: UpdateBody =
                        serde_json::from_value(json!({"entry": id, "status": "0x1"})).unwrap();
                    let auth = admin::<act::StatusUpdate>(CFG);
                    update::update(repo.as_ref(), &deps(), &auth, body).await
                };
                // Audited: as authentication leaves the request for an API key of the
                // organization (its pending change then names its author). Without the log, no
                // request context at all.
                let reply = if audited {
                    context::scope(Some(request), async {
                        context::set_caller(
                            Actor::ApiKey {
                                key_id: format!("acme.bench-client-{c}"),
                                roles: vec![format!("acme.status-writer#{c:08x}")],
                            },
                            Some("acme".into()),
                        );
                        call.await
                    })
                    .await
                } else {
                    call.await
                }
                .unwrap();
                if reply.body.unwrap()["published"] != json!(true) {
                    unpublished += 1;
                }
            }
            unpublished
        });
    }
    let mut unpublished = 0;
    while let Some(n) = tasks.join_next().await {
        unpublished += n.unwrap();
    }
    let wall = t.elapsed().as_secs_f64();
    let cpu = cpu_ms() - cpu;
    assert_eq!(unpublished, 0, "every update answers published");
    let n = (clients * per_client) as f64;
    let head_after = metered.inner.audit_head("acme").await.unwrap();
    let seq = |h: Option<(u64, String)>| h.map_or(0, |h| h.0) as f64;
    let publishes = (registry.bodies(&list).len() - uploads_before) as f64;
    Round {
        updates_per_s: n / wall,
        cpu_ms_per_update: cpu / n,
        bytes_per_update: metered.take() as f64 / n,
        reads_per_update: metered.take_reads() as f64 / n,
        publishes,
        audit_entries: seq(head_after) - seq(head_before),
        refused_commits: metered.take_failed() as f64,
        audit_bytes_per_update: metered.take_audit() as f64 / n,
    }
}

fn summary(rounds: &[Round]) -> Value {
    let m = |f: fn(&Round) -> f64| median(rounds.iter().map(f).collect());
    json!({
        "updates_per_s": m(|r| r.updates_per_s),
        "cpu_ms_per_update": m(|r| r.cpu_ms_per_update),
        "bytes_per_update": m(|r| r.bytes_per_update),
        "reads_per_update": m(|r| r.reads_per_update),
        "publishes": m(|r| r.publishes),
        "audit_entries": m(|r| r.audit_entries),
        "refused_commits": m(|r| r.refused_commits),
        "audit_bytes_per_update": m(|r| r.audit_bytes_per_update),
        "rounds": rounds.len(),
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let clients = args.first().copied().unwrap_or(16);
    let per_client = args.get(1).copied().unwrap_or(50);
    let rounds = args.get(2).copied().unwrap_or(7);
    let (mut plain, mut audited) = (Vec::new(), Vec::new());
    // One warm-up round of each, not counted; then alternate, so drift hits both alike.
    round(false, clients, per_client).await;
    round(true, clients, per_client).await;
    for _ in 0..rounds {
        plain.push(round(false, clients, per_client).await);
        audited.push(round(true, clients, per_client).await);
    }
    let (p, a) = (summary(&plain), summary(&audited));
    let ratio = |k: &str| a[k].as_f64().unwrap() / p[k].as_f64().unwrap();
    let out = json!({
        "clients": clients, "per_client": per_client, "size": SIZE,
        "plain": p, "audited": a,
        "throughput_ratio": ratio("updates_per_s"),
        "cpu_ratio": ratio("cpu_ms_per_update"),
        "extra_bytes_per_update": a["bytes_per_update"].as_f64().unwrap() - p["bytes_per_update"].as_f64().unwrap(),
        "extra_reads_per_update": a["reads_per_update"].as_f64().unwrap() - p["reads_per_update"].as_f64().unwrap(),
    });
    println!("{out}");
}
