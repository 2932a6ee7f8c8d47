//! The engine's schedules with a fake clock, a recording registry and a small artefact of its
//! own (a set of numbers, "signed" with a keyed checksum): leases, takeover, fencing, merging a
//! registry copy before replacing it, refusing one that does not verify, the bounds of the
//! publish loop, backoff, and what a waiting caller is told. The status list and CRL artefacts
//! plug into the same code (their own tests cover what they merge).

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use async_trait::async_trait;
use trustfn_domain::error::ApiError;
use trustfn_domain::model::{Kind, Lease, PublishState, Record, StatusList};
use trustfn_domain::ports::Publisher;
use trustfn_domain::repo::{Op, Repository};
use trustfn_domain::resource::load_as;
use trustfn_domain::target::Target;
use trustfn_publish::engine::MAX_ROUNDS;
use trustfn_publish::lease::{commit_under_lease, Planned};
use trustfn_publish::{
    publish, publish_and_wait, refresh, Absorbed, Artefact, Built, Cx, FakeClock, Issue, Outcome,
    PublishDeps, Republisher, Settled,
};
use trustfn_testkit::MemoryRepo;
use trustfn_testkit::{t, AnswerLostOnce, FakeKms, FakeSecrets, RecordingRegistry};

const KEY: &str = "object";
const ID: &str = "acme.t1.st.c.l1";
const T0: i64 = 1_800_000_000;

/// A set of numbers published as `iat;number;n1,n2,...;checksum`. The table holds the set in
/// the record's `allocation` field (this test's own use of a spare field).
struct Numbers {
    registry: RecordingRegistry,
    /// The checksum key: a copy "signed" with another one does not verify.
    secret: &'static str,
    /// Whether changes wait outside the record (a status list's pending changes).
    waiting: AtomicBool,
    builds: AtomicUsize,
    /// Clock milliseconds each build takes, and each preparation.
    build_ms: AtomicU64,
    prepare_ms: AtomicU64,
    /// Whether the artefact is published at all now.
    active: AtomicBool,
    /// Whether preparations never finish (a KMS or storage call that hangs).
    stall: AtomicBool,
    /// Real milliseconds each preparation takes (a KMS call on the network).
    prepare_real_ms: AtomicU64,
    /// Whether each build gives the lease away (to an expired lease of a "thief" that records
    /// the version the round's upload will store), as when the lease runs out during the round
    /// and another publisher takes it, publishes and dies.
    steal: AtomicBool,
}

struct Work {
    registry: RecordingRegistry,
}

fn checksum(secret: &str, payload: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (secret, payload).hash(&mut h);
    h.finish()
}

fn set_of(doc: &StatusList) -> BTreeSet<u32> {
    doc.allocation
        .as_deref()
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect()
}

fn with_set(doc: &mut StatusList, set: &BTreeSet<u32>) {
    let v: Vec<String> = set.iter().map(u32::to_string).collect();
    doc.allocation = Some(v.join(","));
}

/// What a published body says: (iat, number, set).
fn parse(secret: &str, body: &[u8]) -> Option<(i64, u64, BTreeSet<u32>)> {
    let text = std::str::from_utf8(body).ok()?;
    let (payload, sum) = text.rsplit_once(';')?;
    if sum.parse::<u64>().ok()? != checksum(secret, payload) {
        return None;
    }
    let mut parts = payload.split(';');
    let iat = parts.next()?.parse().ok()?;
    let number = parts.next()?.parse().ok()?;
    let set = parts
        .next()?
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    Some((iat, number, set))
}

fn body(secret: &str, iat: i64, number: u64, set: &BTreeSet<u32>) -> Vec<u8> {
    let v: Vec<String> = set.iter().map(u32::to_string).collect();
    let payload = format!("{iat};{number};{}", v.join(","));
    format!("{payload};{}", checksum(secret, &payload)).into_bytes()
}

#[async_trait]
impl Artefact for Numbers {
    type Doc = StatusList;
    type Work = Work;

    fn name(&self) -> &'static str {
        "number set"
    }
    fn state(doc: &StatusList) -> PublishState {
        doc.publish.clone()
    }
    fn state_mut(doc: &mut StatusList) -> &mut PublishState {
        &mut doc.publish
    }
    async fn active(&self, _: &Cx<'_>, _: &Record<StatusList>) -> Result<bool, ApiError> {
        Ok(self.active.load(Ordering::SeqCst))
    }
    async fn waiting(&self, _: &Cx<'_>, _: &Record<StatusList>) -> Result<bool, ApiError> {
        Ok(self.waiting.load(Ordering::SeqCst))
    }
    async fn prepare(
        &self,
        cx: &Cx<'_>,
        rec: Record<StatusList>,
        _: &str,
    ) -> Result<Option<(Record<StatusList>, Work)>, ApiError> {
        if self.stall.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        cx.deps
            .clock
            .sleep(self.prepare_ms.load(Ordering::SeqCst))
            .await;
        let real = self.prepare_real_ms.load(Ordering::SeqCst);
        if real > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(real)).await;
        }
        Ok(Some((
            rec,
            Work {
                registry: self.registry.clone(),
            },
        )))
    }
    async fn build(
        &self,
        cx: &Cx<'_>,
        rec: &Record<StatusList>,
        _: &Work,
        issue: Issue,
    ) -> Result<Built, ApiError> {
        self.builds.fetch_add(1, Ordering::SeqCst);
        cx.deps
            .clock
            .sleep(self.build_ms.load(Ordering::SeqCst))
            .await;
        if self.steal.load(Ordering::SeqCst) {
            let mut cur = load_as::<StatusList>(cx.repo, &rec.id).await?;
            let v = cur.version;
            cur.doc.publish.lease = Some(Lease {
                owner: "thief".into(),
                since: issue.at,
                until: issue.at,
            });
            // The thief knows the version this round's upload will store.
            let landed = self.registry.bodies(KEY).len() + 1;
            cur.doc.publish.object_version = Some(landed.to_string());
            let op = Op::Replace {
                record: cur.upcast(),
                expected_version: v,
                children_delta: 0,
            };
            cx.repo.commit(vec![op]).await.unwrap();
        }
        let number = issue.number.unwrap_or(0);
        let set = set_of(&rec.doc);
        Ok(Built {
            body: body(self.secret, issue.at, number, &set),
            content_type: "text/plain",
            cache_control: "no-store".into(),
            revision: rec.doc.publish.revision,
            number: issue.number,
            issued_at: issue.at,
            expires_at: issue.at + 3600,
            refresh_at: issue.at + 1800,
            entries: set.len() as u64,
            keep: Vec::new(),
        })
    }
    fn destination<'w>(&self, work: &'w Work) -> (&'w dyn Publisher, &'w str) {
        (&work.registry, KEY)
    }
    async fn absorb(
        &self,
        cx: &Cx<'_>,
        rec: &Record<StatusList>,
        _: &mut Work,
        found: &[u8],
        owner: &str,
    ) -> Result<Absorbed<StatusList>, ApiError> {
        let (iat, number, theirs) = parse(self.secret, found)
            .ok_or_else(|| ApiError::conflict("the registry's copy does not verify"))?;
        let st = &rec.doc.publish;
        let ours = set_of(&rec.doc);
        let missing: BTreeSet<u32> = theirs.difference(&ours).copied().collect();
        let number_ok = st.number.is_none_or(|n| n > number);
        if (st.known_through.is_some_and(|k| iat <= k) || missing.is_empty()) && number_ok {
            return Ok(Absorbed::Superseded);
        }
        let merged = commit_under_lease::<Numbers>(cx, rec.clone(), owner, |r| {
            let mut next = r.clone();
            let mut set = set_of(&r.doc);
            set.extend(&missing);
            with_set(&mut next.doc, &set);
            next.doc.publish.revision += 1;
            if let Some(n) = next.doc.publish.number.as_mut() {
                *n = (*n).max(number + 1);
            }
            Ok(Planned::record(next))
        })
        .await?;
        Ok(match merged {
            Some(r) => Absorbed::Merged(r),
            None => Absorbed::Lost,
        })
    }
    async fn covering(
        &self,
        cx: &Cx<'_>,
        id: &Target,
        mark: &str,
    ) -> Result<(Option<i64>, PublishState), ApiError> {
        let st = load_as::<StatusList>(cx.repo, id).await?.doc.publish;
        Ok((mark.parse().ok(), st))
    }
}

struct World {
    repo: MemoryRepo,
    kms: FakeKms,
    clock: FakeClock,
    registry: RecordingRegistry,
    art: Numbers,
}

impl World {
    async fn new() -> World {
        let w = World {
            repo: MemoryRepo::new(),
            kms: FakeKms::default(),
            clock: FakeClock::at(T0),
            registry: RecordingRegistry::default(),
            art: Numbers {
                registry: RecordingRegistry::default(),
                secret: "k1",
                waiting: AtomicBool::new(false),
                builds: AtomicUsize::new(0),
                build_ms: AtomicU64::new(0),
                prepare_ms: AtomicU64::new(0),
                active: AtomicBool::new(true),
                stall: AtomicBool::new(false),
                prepare_real_ms: AtomicU64::new(0),
                steal: AtomicBool::new(false),
            },
        };
        let w = World {
            art: Numbers {
                registry: w.registry.clone(),
                ..w.art
            },
            ..w
        };
        let doc: StatusList = serde_json::from_value(serde_json::json!({
            "listId": "l1", "uri": "https://x/l1", "objectKey": KEY, "size": 1024,
            "statusVersion": 1, "publishedVersion": -1, "_refreshAt": T0, "_allocated": "1,2"
        }))
        .unwrap();
        w.repo
            .commit(vec![Op::Create(Record::new(t(ID), doc))])
            .await
            .unwrap();
        w
    }

    fn deps(&self) -> PublishDeps<'_> {
        PublishDeps {
            kms: &self.kms,
            secrets: &FakeSecrets,
            registries: &self.registry,
            clock: &self.clock,
            deadline_ms: self.clock_ms() + 25_000,
        }
    }

    /// Publishes with a 25-second deadline.
    async fn publish(&self, force: bool) -> Result<Outcome, ApiError> {
        self.publish_on(&self.repo, force).await
    }

    async fn publish_on(&self, repo: &dyn Repository, force: bool) -> Result<Outcome, ApiError> {
        let deps = self.deps();
        let cx = Cx { repo, deps: &deps };
        let deadline = self.clock_ms() + 25_000;
        publish(&cx, &self.art, &t(ID), force, deadline).await
    }

    /// Publishes with a deadline `ms` from now.
    async fn publish_within(&self, ms: i64) -> Result<Outcome, ApiError> {
        let deps = self.deps();
        let cx = Cx {
            repo: &self.repo,
            deps: &deps,
        };
        publish(&cx, &self.art, &t(ID), false, self.clock_ms() + ms).await
    }

    /// Another list like the first at `id`, due now.
    async fn another(&self, id: &str) {
        let mut doc = self.rec().await.doc;
        doc.publish = PublishState {
            refresh_at: Some(T0),
            revision: 1,
            ..PublishState::unpublished()
        };
        self.repo
            .commit(vec![Op::Create(Record::new(t(id), doc))])
            .await
            .unwrap();
    }

    fn clock_ms(&self) -> i64 {
        use trustfn_publish::Clock;
        self.clock.now_ms()
    }

    async fn state(&self) -> PublishState {
        self.rec().await.doc.publish
    }

    async fn rec(&self) -> Record<StatusList> {
        load_as::<StatusList>(&self.repo, &t(ID)).await.unwrap()
    }

    /// Changes the record as another writer would.
    async fn change(&self, f: impl FnOnce(&mut StatusList)) {
        let mut rec = self.rec().await;
        let v = rec.version;
        f(&mut rec.doc);
        self.repo
            .commit(vec![Op::Replace {
                record: rec.upcast(),
                expected_version: v,
                children_delta: 0,
            }])
            .await
            .unwrap();
    }

    /// What the registry holds now: (iat, number, set).
    fn published(&self) -> (i64, u64, BTreeSet<u32>) {
        parse("k1", &self.registry.current(KEY).expect("an object")).expect("verifies")
    }
}

fn set(v: &[u32]) -> BTreeSet<u32> {
    v.iter().copied().collect()
}

#[tokio::test]
async fn a_publish_takes_the_lease_and_records_what_it_published() {
    let w = World::new().await;
    assert_eq!(w.publish(false).await.unwrap(), Outcome::Published);
    let st = w.state().await;
    assert_eq!(st.published_revision, 1);
    assert_eq!(st.lease, None, "released");
    assert_eq!(st.issued_at, Some(T0), "issued at the lease's start");
    assert_eq!(st.expires_at, Some(T0 + 3600));
    assert_eq!(st.refresh_at, Some(T0 + 1800));
    assert_eq!(st.object_version.as_deref(), Some("1"));
    assert_eq!((st.publishes, st.failures), (1, 0));
    assert_eq!(st.known_through, Some(T0), "what it sent counts as ours");
    assert_eq!(w.published(), (T0, 0, set(&[1, 2])));
    // Nothing new: nothing published.
    assert_eq!(w.publish(false).await.unwrap(), Outcome::UpToDate);
    assert_eq!(w.registry.uploads.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_live_lease_coalesces_and_an_expired_one_is_taken_over() {
    let w = World::new().await;
    w.change(|d| {
        d.publish.lease = Some(Lease {
            owner: "other".into(),
            since: T0 - 5,
            until: T0 + 10,
        })
    })
    .await;
    assert_eq!(w.publish(false).await.unwrap(), Outcome::Coalesced);
    assert!(w.registry.uploads.lock().unwrap().is_empty());
    w.clock.advance(10);
    assert_eq!(w.publish(false).await.unwrap(), Outcome::Published);
    let st = w.state().await;
    assert_eq!(
        st.known_through,
        Some(T0 + 10),
        "the unreleased lease's start counted as ours, then our own"
    );
}

#[tokio::test]
async fn the_lease_never_outlives_the_callers_deadline_and_no_round_starts_without_time() {
    let w = World::new().await;
    let deps = w.deps();
    let cx = Cx {
        repo: &w.repo,
        deps: &deps,
    };
    // A registry that holds the upload: the lease we see while it waits ends at the deadline.
    w.registry.hold();
    let deadline = w.clock_ms() + 6_000;
    let id = t(ID);
    let publishing = publish(&cx, &w.art, &id, false, deadline);
    let watch = async {
        while w.registry.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let lease = w.state().await.lease.unwrap();
        assert_eq!(lease.until, T0 + 6, "not the full 20-second lease");
        assert!(
            w.state().await.refresh_at <= Some(T0 + 6),
            "due when it ends"
        );
        w.registry.release();
    };
    let (out, ()) = tokio::join!(publishing, watch);
    assert_eq!(out.unwrap(), Outcome::Published);
    // Less than a round's time left: nothing is taken.
    w.change(|d| d.publish.revision += 1).await;
    let out = publish(&cx, &w.art, &t(ID), false, w.clock_ms() + 1_000).await;
    assert_eq!(out.unwrap(), Outcome::OutOfTime);
    assert_eq!(w.state().await.lease, None);
}

fn takes_a_lease(ops: &[Op]) -> bool {
    matches!(ops, [Op::Replace { record, .. }]
        if record.get::<StatusList>().is_some_and(|l| l.publish.lease.is_some()))
}

#[tokio::test]
async fn a_take_whose_answer_was_lost_recognises_its_own_lease() {
    let w = World::new().await;
    let repo = AnswerLostOnce::new(&w.repo, takes_a_lease);
    // The take landed but its answer was lost (an SDK retry of a committed write answers the
    // same way): the publisher finds its own lease and publishes, instead of leaving it
    // orphaned and answering as if another publisher held it.
    assert_eq!(
        w.publish_on(&repo, false).await.unwrap(),
        Outcome::Published
    );
    let st = w.state().await;
    assert_eq!((st.published_revision, st.lease), (1, None));
}

#[tokio::test]
async fn a_copy_written_behind_the_table_is_merged_before_it_is_replaced() {
    let w = World::new().await;
    w.publish(false).await.unwrap();
    // A restored table, an older deployment: the registry holds a newer copy with 7 and 9.
    w.clock.advance(60);
    w.registry
        .write_behind(KEY, body("k1", T0 + 30, 5, &set(&[1, 7, 9])));
    w.change(|d| {
        let mut s = set_of(d);
        s.insert(3);
        with_set(d, &s);
        d.publish.revision += 1;
    })
    .await;
    assert_eq!(w.publish(false).await.unwrap(), Outcome::Published);
    let (_, _, published) = w.published();
    assert_eq!(
        published,
        set(&[1, 2, 3, 7, 9]),
        "nothing the copy held is lost"
    );
    assert_eq!(
        set_of(&w.rec().await.doc),
        set(&[1, 2, 3, 7, 9]),
        "and the table holds it"
    );
    assert_eq!(w.state().await.published_revision, w.state().await.revision);
}

#[tokio::test]
async fn a_copy_this_table_wrote_is_replaced_as_it_is() {
    let w = World::new().await;
    w.publish(false).await.unwrap();
    // A stale upload of ours (issued at T0, which the table knows) lands after a newer one,
    // with 2 that the table has since removed: it is replaced, and 2 stays removed.
    w.clock.advance(60);
    w.registry
        .write_behind(KEY, body("k1", T0, 0, &set(&[1, 2])));
    w.change(|d| {
        with_set(d, &set(&[1]));
        d.publish.revision += 1;
    })
    .await;
    assert_eq!(w.publish(false).await.unwrap(), Outcome::Published);
    assert_eq!(w.published().2, set(&[1]));
    assert_eq!(set_of(&w.rec().await.doc), set(&[1]));
}

#[tokio::test]
async fn a_copy_that_does_not_verify_or_cannot_be_read_is_never_overwritten() {
    for unreadable in [false, true] {
        let w = World::new().await;
        w.publish(false).await.unwrap();
        w.clock.advance(60);
        let foreign = body("another key", T0 + 30, 9, &set(&[4]));
        w.registry.write_behind(KEY, foreign.clone());
        w.registry.reads_fail.store(unreadable, Ordering::SeqCst);
        w.change(|d| d.publish.revision += 1).await;
        assert!(w.publish(false).await.is_err());
        assert_eq!(w.registry.current(KEY), Some(foreign), "left as it is");
        let st = w.state().await;
        assert_eq!(st.failures, 1);
        assert!(st.last_error.is_some());
        assert_eq!(st.lease, None);
        assert_eq!(
            st.refresh_at,
            Some(T0 + 60 + 60),
            "retried by the refresh a minute later"
        );
        assert!(st.behind());
    }
}

#[tokio::test]
async fn a_publisher_that_lost_its_lease_records_nothing_and_its_stale_upload_is_replaced() {
    let w = World::new().await;
    let deps = w.deps();
    let cx = Cx {
        repo: &w.repo,
        deps: &deps,
    };
    w.registry.hold_next(1);
    let id = t(ID);
    let first = publish(&cx, &w.art, &id, false, w.clock_ms() + 25_000);
    let meanwhile = async {
        while w.registry.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // The upload of {1, 2} stalls past the lease; another publisher takes the lease over,
        // and the table drops 2 and gains 5.
        w.clock.advance(21);
        w.change(|d| {
            with_set(d, &set(&[1, 5]));
            d.publish.revision += 1;
            d.publish.lease = Some(Lease {
                owner: "other".into(),
                since: T0 + 21,
                until: T0 + 41,
            });
        })
        .await;
        // The stale upload lands now.
        w.registry.release();
    };
    let (first, ()) = tokio::join!(first, meanwhile);
    assert_eq!(first.unwrap(), Outcome::Coalesced, "the holder publishes");
    assert_eq!(w.published().2, set(&[1, 2]), "the stale upload landed");
    let st = w.state().await;
    assert_eq!(
        st.revision, 3,
        "its release recorded only a republish marker"
    );
    assert_eq!((st.published_revision, st.object_version), (-1, None));
    assert_eq!(st.lease.unwrap().owner, "other");
    // The holder dies; the next publisher finds the stale upload, knows it for one of this
    // table's (no merge: 2 stays dropped) and replaces it.
    w.clock.advance(20);
    assert_eq!(w.publish(false).await.unwrap(), Outcome::Published);
    assert_eq!(w.published().2, set(&[1, 5]));
    assert_eq!(set_of(&w.rec().await.doc), set(&[1, 5]));
    let st = w.state().await;
    assert_eq!((st.revision, st.published_revision), (3, 3));
}

#[tokio::test]
async fn the_publish_loop_is_bounded_by_rounds_and_by_the_deadline() {
    let w = World::new().await;
    // Changes keep arriving (waiting never clears): one call publishes a bounded number of
    // rounds and leaves the rest to the refresh.
    w.art.waiting.store(true, Ordering::SeqCst);
    assert_eq!(w.publish(false).await.unwrap(), Outcome::Published);
    assert_eq!(w.art.builds.load(Ordering::SeqCst), MAX_ROUNDS as usize);
    // Rounds of 1.5 s against a deadline 7 s away: none starts with less than 2 s left.
    w.art.build_ms.store(1_500, Ordering::SeqCst);
    w.art.builds.store(0, Ordering::SeqCst);
    let deps = w.deps();
    let cx = Cx {
        repo: &w.repo,
        deps: &deps,
    };
    let out = publish(&cx, &w.art, &t(ID), false, w.clock_ms() + 7_000).await;
    assert_eq!(out.unwrap(), Outcome::Published);
    assert_eq!(w.art.builds.load(Ordering::SeqCst), 4);
    assert_eq!(w.state().await.lease, None);
}

#[tokio::test]
async fn failures_back_off_and_the_refresh_publishes_once_the_registry_is_back() {
    let w = World::new().await;
    w.registry.fail.store(true, Ordering::SeqCst);
    assert!(w.publish(false).await.is_err());
    let st = w.state().await;
    assert_eq!((st.failures, st.refresh_at), (1, Some(T0 + 60)));
    assert!(w.publish(false).await.is_err(), "a failing artefact is due");
    assert_eq!(w.state().await.refresh_at, Some(T0 + 120), "twice as long");
    w.registry.fail.store(false, Ordering::SeqCst);
    struct Mine<'a>(&'a Numbers);
    #[async_trait]
    impl Republisher for Mine<'_> {
        fn handles(&self, kind: Kind) -> bool {
            kind == Kind::StatusList
        }
        async fn republish(
            &self,
            cx: &Cx<'_>,
            id: &Target,
            deadline_ms: i64,
        ) -> Result<Outcome, ApiError> {
            publish(cx, self.0, id, true, deadline_ms).await
        }
    }
    let deps = w.deps();
    let cx = Cx {
        repo: &w.repo,
        deps: &deps,
    };
    let mine = Mine(&w.art);
    let publishers: [&dyn Republisher; 1] = [&mine];
    let run = || refresh(&cx, &publishers, 0, 25, w.clock_ms() + 60_000);
    assert_eq!(run().await.unwrap().due, 0, "not before its retry time");
    w.clock.advance(120);
    let report = run().await.unwrap();
    assert_eq!((report.due, report.republished, report.failed), (1, 1, 0));
    let st = w.state().await;
    assert_eq!((st.failures, st.last_error.clone()), (0, None));
    assert!(!st.behind());
}

#[tokio::test]
async fn a_waiting_caller_is_told_the_truth_when_the_holder_dies() {
    let w = World::new().await;
    w.publish(false).await.unwrap();
    // A change (revision 2) is accepted while another publisher holds the lease; it dies.
    w.change(|d| {
        d.publish.revision = 2;
        d.publish.lease = Some(Lease {
            owner: "dead".into(),
            since: T0,
            until: T0 + 4,
        });
    })
    .await;
    let deps = w.deps();
    let cx = Cx {
        repo: &w.repo,
        deps: &deps,
    };
    // Waiting 3 s: the holder's lease outlasts it; the answer is "not published".
    let out = publish_and_wait(&cx, &w.art, &t(ID), "2", w.clock_ms() + 3_000).await;
    assert_eq!(out.unwrap(), Settled::Unpublished(None));
    // Waiting longer: once the lease lapses the caller publishes the change itself.
    let out = publish_and_wait(&cx, &w.art, &t(ID), "2", w.clock_ms() + 20_000).await;
    assert_eq!(out.unwrap(), Settled::Published);
    assert_eq!(w.state().await.published_revision, 2);
}

#[tokio::test]
async fn numbers_never_repeat_and_stay_above_a_registry_copys() {
    let w = World::new().await;
    w.change(|d| d.publish.number = Some(0)).await;
    w.publish(false).await.unwrap();
    let first = w.state().await.published_number.unwrap();
    assert_eq!(first, T0 as u64 * 1000, "seeded from the clock");
    w.change(|d| d.publish.revision += 1).await;
    w.publish(false).await.unwrap();
    let second = w.state().await.published_number.unwrap();
    assert!(second > first);
    // A copy numbered far above ours (a recreated record's predecessor with a faster clock).
    w.registry
        .write_behind(KEY, body("k1", T0 + 5, second + 1_000_000, &set(&[1, 2])));
    w.change(|d| d.publish.revision += 1).await;
    w.publish(false).await.unwrap();
    let (_, number, _) = w.published();
    assert!(number > second + 1_000_000, "above the copy's {number}");
    assert_eq!(w.state().await.published_number, Some(number));
}

#[tokio::test]
async fn a_record_that_keeps_changing_ends_the_publish_with_an_error_not_a_spin() {
    let w = World::new().await;
    // Every write loses a race (another writer keeps changing the record).
    let repo = trustfn_testkit::CommitsConflict(&w.repo);
    let counted = trustfn_testkit::Counting::new(&repo);
    let e = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        w.publish_on(&counted, false),
    )
    .await
    .expect("bounded")
    .unwrap_err();
    assert_eq!(e.status, 409, "{}", e.message);
    assert_eq!(w.state().await.lease, None);
    assert_eq!(
        counted.commits(),
        trustfn_publish::lease::RACES as usize + 1,
        "a bounded number of takes"
    );
}

#[tokio::test]
async fn the_system_clock_sleeps_for_real() {
    use trustfn_publish::{Clock, SystemClock};
    let started = std::time::Instant::now();
    SystemClock.sleep(30).await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(25));
    assert!((SystemClock.now_ms() - chrono_now_ms()).abs() < 5_000);
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn a_round_starts_with_exactly_its_least_time_left_and_a_lease_is_a_full_one_when_time_allows(
) {
    let w = World::new().await;
    assert_eq!(
        w.publish_within(trustfn_publish::engine::MIN_ROUND_MS)
            .await
            .unwrap(),
        Outcome::Published
    );
    // With an hour left, the lease is the full 20 seconds (seen while the upload waits).
    w.change(|d| d.publish.revision += 1).await;
    w.registry.hold_next(1);
    let publishing = w.publish_within(3_600_000);
    let watch = async {
        while w.registry.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let lease = w.state().await.lease.unwrap();
        assert_eq!((lease.since, lease.until), (T0, T0 + 20));
        w.registry.release();
    };
    let (out, ()) = tokio::join!(publishing, watch);
    assert_eq!(out.unwrap(), Outcome::Published);
}

#[tokio::test]
async fn a_publish_costs_a_take_and_a_release_and_a_merge_one_more_write() {
    let w = World::new().await;
    let repo = trustfn_testkit::Counting::new(&w.repo);
    w.publish_on(&repo, false).await.unwrap();
    assert_eq!(repo.commits(), 2, "the take and the release");
    w.clock.advance(60);
    w.registry
        .write_behind(KEY, body("k1", T0 + 30, 5, &set(&[7])));
    w.change(|d| d.publish.revision += 1).await;
    let repo = trustfn_testkit::Counting::new(&w.repo);
    w.publish_on(&repo, false).await.unwrap();
    assert_eq!(
        repo.commits(),
        3,
        "the take, the merge (first time), the release"
    );
    assert_eq!(w.published().2, set(&[1, 2, 7]));
}

#[tokio::test]
async fn a_lease_left_short_by_a_long_preparation_is_renewed_keeping_its_start() {
    for (prepare_s, until, commits) in [(15, T0 + 35, 3), (5, T0 + 20, 2)] {
        let w = World::new().await;
        w.art.prepare_ms.store(prepare_s * 1000, Ordering::SeqCst);
        w.registry.hold_next(1);
        let repo = trustfn_testkit::Counting::new(&w.repo);
        let deps = w.deps();
        let cx = Cx {
            repo: &repo,
            deps: &deps,
        };
        let id = t(ID);
        let publishing = publish(&cx, &w.art, &id, false, w.clock_ms() + 3_600_000);
        let watch = async {
            while w.registry.waiting.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
            let lease = w.state().await.lease.unwrap();
            assert_eq!((lease.since, lease.until), (T0, until), "{prepare_s} s");
            w.registry.release();
        };
        let (out, ()) = tokio::join!(publishing, watch);
        assert_eq!(out.unwrap(), Outcome::Published);
        assert_eq!(
            repo.commits(),
            commits,
            "renewed only when less than half was left"
        );
        assert_eq!(w.published().0, T0, "issued at the lease's start");
    }
}

#[tokio::test]
async fn an_upload_never_starts_after_the_lease_ended() {
    let w = World::new().await;
    // The deadline caps the lease (20.5 s: until T0 + 20); the preparation outlasts it.
    w.art.prepare_ms.store(21_000, Ordering::SeqCst);
    assert!(w.publish_within(20_500).await.is_err());
    assert!(w.registry.uploads.lock().unwrap().is_empty());
    assert_eq!(w.state().await.failures, 1);
}

#[tokio::test]
async fn a_publisher_fenced_again_and_again_gives_up_after_three_rounds() {
    let w = World::new().await;
    w.art.steal.store(true, Ordering::SeqCst);
    let e = w.publish(false).await.unwrap_err();
    assert_eq!(e.status, 503, "{}", e.message);
    assert_eq!(w.registry.uploads.lock().unwrap().len(), 3);
    let st = w.state().await;
    assert_eq!(st.revision, 4, "three republish markers");
    assert_eq!(
        st.published_revision, -1,
        "nothing a fenced publisher did is recorded"
    );
}

#[tokio::test]
async fn an_inactive_artefact_leaves_the_refresh_index() {
    let w = World::new().await;
    w.art.active.store(false, Ordering::SeqCst);
    assert_eq!(w.publish(true).await.unwrap(), Outcome::Inactive);
    assert_eq!(w.state().await.refresh_at, None);
    assert!(w.registry.uploads.lock().unwrap().is_empty());
    // A caller waiting for a change of it is answered at once.
    let deps = w.deps();
    let cx = Cx {
        repo: &w.repo,
        deps: &deps,
    };
    let before = w.clock_ms();
    let out = publish_and_wait(&cx, &w.art, &t(ID), "1", before + 20_000).await;
    assert_eq!(out.unwrap(), Settled::Unpublished(None));
    assert_eq!(w.clock_ms(), before, "no waiting");
}

#[tokio::test]
async fn a_change_made_during_a_publish_whose_publisher_then_dies_is_due_one_lease_later() {
    let w = World::new().await;
    fn second_take(ops: &[Op]) -> bool {
        matches!(ops, [Op::Replace { record, .. }] if record
            .get::<StatusList>()
            .is_some_and(|l| l.publish.lease.is_some() && l.publish.revision == 2))
    }
    let dies = trustfn_testkit::FailOnce::new(&w.repo, second_take);
    w.registry.hold_next(1);
    let publishing = w.publish_on(&dies, false);
    let change = async {
        while w.registry.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        w.change(|d| d.publish.revision += 1).await;
        w.registry.release();
    };
    let (out, ()) = tokio::join!(publishing, change);
    assert!(out.is_err(), "the second round died taking the lease");
    let st = w.state().await;
    assert_eq!((st.published_revision, st.revision), (1, 2));
    assert_eq!(
        st.refresh_at,
        Some(T0 + 20),
        "due one lease after the release"
    );
}

/// Republishes the engine's test artefact.
struct Mine<'a>(&'a Numbers);

#[async_trait]
impl Republisher for Mine<'_> {
    fn handles(&self, kind: Kind) -> bool {
        kind == Kind::StatusList
    }
    async fn republish(
        &self,
        cx: &Cx<'_>,
        id: &Target,
        deadline_ms: i64,
    ) -> Result<Outcome, ApiError> {
        publish(cx, self.0, id, true, deadline_ms).await
    }
}

#[tokio::test]
async fn the_refresh_pages_counts_and_stops_in_time() {
    let w = World::new().await;
    for i in 2..=5 {
        w.another(&format!("acme.t1.st.c.l{i}")).await;
    }
    let deps = w.deps();
    let cx = Cx {
        repo: &w.repo,
        deps: &deps,
    };
    let mine = Mine(&w.art);
    let publishers: [&dyn Republisher; 1] = [&mine];
    // Less than a round's time: nothing is started, and the run says more is due.
    let short = w.clock_ms() + trustfn_publish::engine::MIN_ROUND_MS - 1;
    let report = refresh(&cx, &publishers, 0, 2, short).await.unwrap();
    assert_eq!((report.due, report.more), (0, true));
    // Pages of two: all five, each once.
    let report = refresh(&cx, &publishers, 0, 2, w.clock_ms() + 60_000)
        .await
        .unwrap();
    assert_eq!(
        (report.due, report.republished, report.failed, report.held),
        (5, 5, 0, 0)
    );
    // A held one and a failing one are counted as such.
    w.clock.advance(7200);
    w.change(|d| {
        d.publish.lease = Some(Lease {
            owner: "holder".into(),
            since: T0 + 7200,
            until: T0 + 7300,
        })
    })
    .await;
    w.registry.fail.store(true, Ordering::SeqCst);
    let report = refresh(&cx, &publishers, 0, 25, w.clock_ms() + 60_000)
        .await
        .unwrap();
    assert_eq!(
        (report.due, report.held, report.failed, report.republished),
        (5, 1, 4, 0)
    );
}

#[tokio::test]
async fn a_refresh_run_is_not_held_by_an_artefact_that_hangs() {
    let w = World::new().await;
    w.art.stall.store(true, Ordering::SeqCst);
    let deps = w.deps();
    let cx = Cx {
        repo: &w.repo,
        deps: &deps,
    };
    let mine = Mine(&w.art);
    let publishers: [&dyn Republisher; 1] = [&mine];
    let run = refresh(&cx, &publishers, 0, 25, w.clock_ms() + 2_500);
    let report = tokio::time::timeout(std::time::Duration::from_secs(20), run)
        .await
        .expect("the run ends at its deadline")
        .unwrap();
    assert_eq!((report.due, report.failed), (1, 1));
}

#[tokio::test]
async fn a_write_under_the_lease_answers_the_record_as_stored() {
    let w = World::new().await;
    let leased = w.rec().await;
    let deps = w.deps();
    let cx = Cx {
        repo: &w.repo,
        deps: &deps,
    };
    let child = Record::new(t(&format!("{ID}.c1")), w.rec().await.doc);
    let out = commit_under_lease::<Numbers>(&cx, leased, "nobody", |r| {
        let mut next = r.clone();
        with_set(&mut next.doc, &set(&[9]));
        Ok(Planned {
            next,
            children_delta: 1,
            others: vec![Op::Create(child.clone())],
        })
    })
    .await
    .unwrap()
    .unwrap();
    let stored = w.rec().await;
    assert_eq!(
        (out.version, out.children),
        (stored.version, stored.children)
    );
    assert_eq!(stored.children, 1);
    assert_eq!(set_of(&out.doc), set(&[9]));
}

#[tokio::test]
async fn the_refresh_starts_an_artefact_with_exactly_a_rounds_time_and_waits_for_slow_ones() {
    let w = World::new().await;
    let deps = w.deps();
    let cx = Cx {
        repo: &w.repo,
        deps: &deps,
    };
    let mine = Mine(&w.art);
    let publishers: [&dyn Republisher; 1] = [&mine];
    // A preparation that takes real time (KMS on the network) is waited for.
    w.art.prepare_real_ms.store(30, Ordering::SeqCst);
    let just = w.clock_ms() + trustfn_publish::engine::MIN_ROUND_MS;
    let report = refresh(&cx, &publishers, 0, 25, just).await.unwrap();
    assert_eq!((report.due, report.republished, report.more), (1, 1, false));
}

/// Publishes like [`Mine`], except that organization `dead`'s registry never answers: each
/// of its publishes costs 3 s (of the fake clock) and fails, as an upload timing out does.
struct DeadOrg<'a>(&'a Numbers, &'a FakeClock);

#[async_trait]
impl Republisher for DeadOrg<'_> {
    fn handles(&self, kind: Kind) -> bool {
        kind == Kind::StatusList
    }
    async fn republish(
        &self,
        cx: &Cx<'_>,
        id: &Target,
        deadline_ms: i64,
    ) -> Result<Outcome, ApiError> {
        if id.org() == "dead" {
            tokio::task::yield_now().await;
            self.1.advance(3);
            return Err(ApiError::upstream("the registry (timed out)"));
        }
        Mine(self.0).republish(cx, id, deadline_ms).await
    }
}

#[tokio::test]
async fn one_organization_with_dead_registries_does_not_starve_the_others() {
    // The per-organization turns reordered one page of 25 due items: 50 lists of one tenant
    // whose registry never answers took the run, and the other tenants' lists expired.
    let w = World::new().await;
    for i in 0..50 {
        w.another(&format!("dead.t.st.c.l{i:02}")).await;
    }
    for org in ["healthy1", "healthy2"] {
        w.another(&format!("{org}.t.st.c.l1")).await;
    }
    let deps = w.deps();
    let cx = Cx {
        repo: &w.repo,
        deps: &deps,
    };
    let dead = DeadOrg(&w.art, &w.clock);
    let publishers: [&dyn Republisher; 1] = [&dead];
    let report = refresh(&cx, &publishers, 0, 25, w.clock_ms() + 60_000)
        .await
        .unwrap();
    for id in [ID, "healthy1.t.st.c.l1", "healthy2.t.st.c.l1"] {
        let rec = load_as::<StatusList>(&w.repo, &t(id)).await.unwrap();
        assert!(
            rec.doc.publish.published_revision >= 1,
            "{id} was refreshed: {report:?}"
        );
    }
    assert_eq!(report.republished, 3, "{report:?}");
    // Its share: the failures allowed, plus those already running when the last one came.
    use trustfn_publish::refresh::{CONCURRENCY, FAILS_PER_ORG};
    assert!(
        report.failed < FAILS_PER_ORG + CONCURRENCY,
        "the dead organization stops after its share: {report:?}"
    );
    assert_eq!(report.deferred, 50 - report.failed, "{report:?}");
    assert!(report.more, "the deferred ones are due for the next run");
}
