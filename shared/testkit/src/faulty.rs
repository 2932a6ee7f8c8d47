//! Repositories that fail, race or count: wrappers around a real one that break one thing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use trustfn_domain::model::Record;
use trustfn_domain::repo::{
    Chunk, Op, Page, Pending, Remembered, RepoError, Repository, TokenRecord,
};
use trustfn_domain::Target;

/// A repository wrapper: every read goes to `self.0` (pending changes through the wrapper's
/// `read_pending` when it names one), commits to the wrapper's `write`.
macro_rules! repository_wrapper {
    ($ty:ty) => {
        repository_wrapper!($ty, pending_of_inner);
        impl $ty {
            async fn pending_of_inner(
                &self,
                list: &Target,
                limit: usize,
            ) -> Result<Vec<Pending>, RepoError> {
                self.0.pending(list, limit).await
            }
        }
    };
    ($ty:ty, $pending:ident) => {
        #[async_trait]
        impl Repository for $ty {
            async fn commit(&self, ops: Vec<Op>) -> Result<(), RepoError> {
                self.write(ops).await
            }
            async fn get(&self, id: &Target) -> Result<Option<Record>, RepoError> {
                self.0.get(id).await
            }
            async fn get_many(&self, ids: &[Target]) -> Result<Vec<Record>, RepoError> {
                self.0.get_many(ids).await
            }
            async fn children(
                &self,
                parent: Option<&Target>,
                limit: usize,
                cursor: Option<&str>,
            ) -> Result<Page, RepoError> {
                self.0.children(parent, limit, cursor).await
            }
            async fn dependencies(&self, from: &Target) -> Result<Vec<Target>, RepoError> {
                self.0.dependencies(from).await
            }
            async fn dependants(&self, to: &Target) -> Result<Vec<Target>, RepoError> {
                self.0.dependants(to).await
            }
            async fn token(&self, hash: &str) -> Result<Option<TokenRecord>, RepoError> {
                self.0.token(hash).await
            }
            async fn due(&self, before: i64, limit: usize) -> Result<Vec<Target>, RepoError> {
                self.0.due(before, limit).await
            }
            async fn pending(
                &self,
                list: &Target,
                limit: usize,
            ) -> Result<Vec<Pending>, RepoError> {
                self.$pending(list, limit).await
            }
            async fn list_version(
                &self,
                list: &Target,
                at: Option<i64>,
            ) -> Result<Option<trustfn_domain::repo::ListVersion>, RepoError> {
                self.0.list_version(list, at).await
            }
            async fn next_seq(&self, list: &Target) -> Result<u64, RepoError> {
                self.0.next_seq(list).await
            }
            async fn next_number(&self, series: &str) -> Result<u64, RepoError> {
                self.0.next_number(series).await
            }
            async fn raise_number(&self, series: &str, at_least: u64) -> Result<(), RepoError> {
                self.0.raise_number(series, at_least).await
            }
            async fn has_pending(&self, list: &Target, seq: &str) -> Result<bool, RepoError> {
                self.0.has_pending(list, seq).await
            }
            async fn chunks(&self, list: &Target, nos: &[u32]) -> Result<Vec<Chunk>, RepoError> {
                self.0.chunks(list, nos).await
            }
            async fn all_chunks(&self, list: &Target) -> Result<Vec<Chunk>, RepoError> {
                self.0.all_chunks(list).await
            }
            async fn revoked(
                &self,
                iaca: &Target,
            ) -> Result<Vec<trustfn_domain::repo::RevokedEntry>, RepoError> {
                self.0.revoked(iaca).await
            }
            async fn audit_head(&self, chain: &str) -> Result<Option<(u64, String)>, RepoError> {
                self.0.audit_head(chain).await
            }
            async fn audit_due(&self, before: i64, limit: usize) -> Result<Vec<String>, RepoError> {
                self.0.audit_due(before, limit).await
            }
            async fn audit_checkpoints(
                &self,
                chain: &str,
                below: Option<u64>,
                limit: usize,
            ) -> Result<Vec<(u64, String)>, RepoError> {
                self.0.audit_checkpoints(chain, below, limit).await
            }
            async fn audit_entries(
                &self,
                chain: &str,
                after: u64,
                limit: usize,
            ) -> Result<Vec<String>, RepoError> {
                self.0.audit_entries(chain, after, limit).await
            }
            async fn reserve(
                &self,
                list: &Target,
                count: u64,
                limit: u64,
            ) -> Result<Option<u64>, RepoError> {
                self.0.reserve(list, count, limit).await
            }
            async fn reserved(&self, list: &Target) -> Result<u64, RepoError> {
                self.0.reserved(list).await
            }
            async fn purge_list(&self, list: &Target) -> Result<usize, RepoError> {
                self.0.purge_list(list).await
            }
            async fn remembered(
                &self,
                scope: &Target,
                key: &str,
            ) -> Result<Option<Remembered>, RepoError> {
                self.0.remembered(scope, key).await
            }
        }
    };
}

/// A repository whose reads work and whose every commit fails as if DynamoDB were unreachable.
pub struct CommitsFail<'a>(pub &'a dyn Repository);

impl CommitsFail<'_> {
    async fn write(&self, _ops: Vec<Op>) -> Result<(), RepoError> {
        Err(RepoError::Unavailable("DynamoDB is down (test)".into()))
    }
}

repository_wrapper!(CommitsFail<'_>);

/// A repository whose every commit loses a race: a condition fails, as when another writer
/// keeps changing the same records.
pub struct CommitsConflict<'a>(pub &'a dyn Repository);

impl CommitsConflict<'_> {
    async fn write(&self, _ops: Vec<Op>) -> Result<(), RepoError> {
        Err(RepoError::ConditionFailed { index: Some(0) })
    }
}

repository_wrapper!(CommitsConflict<'_>);

/// A repository where another writer commits `ops` just before the first commit of the use
/// case under test: a race between its reads and its writes.
pub struct Raced<'a>(pub &'a dyn Repository, pub Mutex<Option<Vec<Op>>>);

impl<'a> Raced<'a> {
    pub fn new(repo: &'a dyn Repository, ops: Vec<Op>) -> Raced<'a> {
        Raced(repo, Mutex::new(Some(ops)))
    }
}

impl Raced<'_> {
    async fn write(&self, ops: Vec<Op>) -> Result<(), RepoError> {
        let race = self.1.lock().unwrap().take();
        if let Some(race) = race {
            self.0
                .commit(race)
                .await
                .expect("the racing commit applies");
        }
        self.0.commit(ops).await
    }
}

repository_wrapper!(Raced<'_>);

/// A repository that counts the commits it is asked for (successful or not).
pub struct Counting<'a>(pub &'a dyn Repository, pub AtomicUsize);

impl<'a> Counting<'a> {
    pub fn new(repo: &'a dyn Repository) -> Counting<'a> {
        Counting(repo, AtomicUsize::new(0))
    }

    /// Commits asked for so far.
    pub fn commits(&self) -> usize {
        self.1.load(Ordering::SeqCst)
    }

    async fn write(&self, ops: Vec<Op>) -> Result<(), RepoError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.commit(ops).await
    }
}

repository_wrapper!(Counting<'_>);

/// A repository where another writer commits `ops` just before the first read of pending
/// changes (a publisher folding them between two reads of the use case under test).
pub struct RacedRead<'a>(pub &'a dyn Repository, pub Mutex<Option<Vec<Op>>>);

impl<'a> RacedRead<'a> {
    pub fn new(repo: &'a dyn Repository, ops: Vec<Op>) -> RacedRead<'a> {
        RacedRead(repo, Mutex::new(Some(ops)))
    }

    async fn write(&self, ops: Vec<Op>) -> Result<(), RepoError> {
        self.0.commit(ops).await
    }

    async fn read_pending(&self, list: &Target, limit: usize) -> Result<Vec<Pending>, RepoError> {
        let race = self.1.lock().unwrap().take();
        if let Some(race) = race {
            self.0
                .commit(race)
                .await
                .expect("the racing commit applies");
        }
        self.0.pending(list, limit).await
    }
}

repository_wrapper!(RacedRead<'_>, read_pending);

/// A repository whose first commit matching a predicate fails as if DynamoDB were unreachable
/// (a process that dies between two writes); every other commit goes through.
pub struct FailOnce<'a>(pub &'a dyn Repository, pub Mutex<Option<CommitMatcher>>);

/// Which commits a [`FailOnce`] fails.
pub type CommitMatcher = fn(&[Op]) -> bool;

impl<'a> FailOnce<'a> {
    pub fn new(repo: &'a dyn Repository, matches: fn(&[Op]) -> bool) -> FailOnce<'a> {
        FailOnce(repo, Mutex::new(Some(matches)))
    }
}

impl FailOnce<'_> {
    async fn write(&self, ops: Vec<Op>) -> Result<(), RepoError> {
        let dies = {
            let mut armed = self.1.lock().unwrap();
            let dies = armed.is_some_and(|m| m(&ops));
            if dies {
                *armed = None;
            }
            dies
        };
        if dies {
            return Err(RepoError::Unavailable(
                "the process died here (test)".into(),
            ));
        }
        self.0.commit(ops).await
    }
}

repository_wrapper!(FailOnce<'_>);

/// A repository that applies every commit but answers the first one matching a predicate as if
/// the answer were lost on the way back (an SDK retry of a committed transaction without a
/// request token answers the same way): the write is there, the caller was told it failed.
pub struct AnswerLostOnce<'a>(pub &'a dyn Repository, pub Mutex<Option<CommitMatcher>>);

impl<'a> AnswerLostOnce<'a> {
    pub fn new(repo: &'a dyn Repository, matches: CommitMatcher) -> AnswerLostOnce<'a> {
        AnswerLostOnce(repo, Mutex::new(Some(matches)))
    }
}

impl AnswerLostOnce<'_> {
    async fn write(&self, ops: Vec<Op>) -> Result<(), RepoError> {
        let lose = {
            let mut armed = self.1.lock().unwrap();
            let hit = armed.is_some_and(|m| m(&ops));
            if hit {
                *armed = None;
            }
            hit
        };
        self.0.commit(ops).await?;
        match lose {
            true => Err(RepoError::Unavailable("the answer was lost (test)".into())),
            false => Ok(()),
        }
    }
}

repository_wrapper!(AnswerLostOnce<'_>);
