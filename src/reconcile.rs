//! The decision at the heart of the token lifecycle, without I/O: what an
//! instance does with what the store holds (read under the store's lock),
//! given what the instance holds in memory. Both modes' `flow.rs` act on
//! the [`Verdict`]; every row of the lifecycle's fault table is a case here,
//! tested below.
//!
//! The rules, in order:
//!
//! 1. **Our own pending write** (a token Spotify issued, or a logout, that
//!    could not be stored) goes ahead while the store holds what it held
//!    when the write was first tried (its [`Base`]); over nothing (the store
//!    lost its data); or over the refusal of the very refresh token the
//!    pending token replaced (a lease that lapsed: we hold the successor).
//!    Between two logins (each token's `authorized_at` known and
//!    different: the store lost its data and the user logged in again
//!    while an instance still held the old login), the newer login's
//!    token goes over the older one's, and never the other way.
//!    Otherwise the store moved on (a newer token, a logout) and the
//!    pending write is dropped.
//! 2. **A token in the store** is the login: adopt it (unless this
//!    instance holds a newer login, see rule 1: then it writes its own).
//! 3. **Nothing in the store** is *unknown*, not a logout: an instance
//!    holding a login writes it back (the store repairs itself), as a
//!    provisional login ([`Recovery`]): perhaps a stale copy.
//! 4. **A recovering store** (see `recovery.rs`): an instance holding
//!    another login (not an older one than the copy there), not refused
//!    since the loss, keeps its own and writes it back (the copy there may
//!    be stale; each copy is sent once at most, the live one wins); one
//!    holding the same login, a refused copy or nothing adopts the copy
//!    there; with no copy left, there is no login here for now (the live
//!    one may be in an instance that has not consulted the store yet).
//! 5. **A logout record** ends every login held in memory (they all predate
//!    it); only a bootstrap refresh token it does not name may start a new
//!    one.
//! 6. **A refusal record** ends the refused token and whatever is held
//!    beside it, except a token that descends from the refused one (its
//!    [`Lineage`] names it: Spotify rotated the refused token away, and a
//!    stale holder spent it after a lapse), which is written over the
//!    record: the login goes on.

use crate::entry::{EndReason, Entry, LoginEnded};
use crate::lineage::Lineage;
use crate::recovery::Recovery;
use crate::{RefreshToken, TokenInfo};

/// What the store held when a write was first tried: a pending write goes
/// ahead only while it still holds that.
#[derive(Clone, Debug)]
pub(crate) enum Base {
    /// The store held this.
    Known(Option<Entry>),
    /// The store could not be read: [`Pending::issued_ms`] orders the write
    /// against what is found.
    Unknown,
}

/// A write this instance owes the store.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub entry: Entry,
    pub base: Base,
    /// For a token: the refresh tokens it descends from.
    pub from: Lineage,
    /// When it was issued (a token) or decided (a logout), Unix ms.
    pub issued_ms: u64,
}

/// The login held in memory.
#[derive(Clone, Debug)]
pub(crate) struct Held {
    pub token: TokenInfo,
    /// The refresh tokens this one descends from, as this instance saw them.
    pub from: Lineage,
}

/// What the instance holds, as the decision sees it.
#[derive(Clone, Copy, Default)]
pub(crate) struct Mine<'a> {
    pub held: Option<&'a Held>,
    pub pending: Option<&'a Pending>,
    pub bootstrap: Option<&'a RefreshToken>,
    /// The refresh token Spotify refused last, here: never sent again.
    pub refused: Option<&'a RefreshToken>,
}

/// What to do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The store's token is the login: adopt it.
    Adopt(TokenInfo),
    /// Write ours over what the store holds: the pending write (`pending`
    /// true), or the login held in memory (a repair). `from` goes with it.
    Write {
        entry: Entry,
        from: Lineage,
        pending: bool,
    },
    /// No login: the bootstrap refresh token may be sent when `bootstrap`;
    /// `after` says what ended the last one, if a record says so.
    Empty {
        bootstrap: bool,
        after: Option<EndReason>,
    },
    /// The login held here ended (a record in the store says so): forget
    /// it, the bootstrap token with it.
    Ended(EndReason),
    /// The store lost its data and every copy written back so far was
    /// refused: no login here for now (an instance holding the live one
    /// may write it back); the bootstrap refresh token may be sent when
    /// `bootstrap`. `since_ms`: when the loss was found.
    Recovering { bootstrap: bool, since_ms: u64 },
}

/// The decision (see the module's rules).
pub(crate) fn reconcile(stored: Option<&Entry>, mine: Mine<'_>) -> Verdict {
    if let Some(p) = mine.pending
        && pending_goes_ahead(p, stored)
    {
        return Verdict::Write {
            entry: p.entry.clone(),
            from: p.from.clone(),
            pending: true,
        };
    }
    let held = mine
        .held
        .filter(|h| !same(h.token.refresh_token.as_ref(), mine.refused));
    let bootstrap_ok = |record: Option<&LoginEnded>| {
        mine.bootstrap
            .is_some_and(|b| Some(b) != mine.refused && !record.is_some_and(|r| r.ends(b)))
    };
    match stored {
        // Unless this instance holds a newer login (see rule 1).
        Some(Entry::Token(s)) => match held {
            Some(h) if newer_login(&h.token, s) == Some(true) => Verdict::Write {
                entry: Entry::Token(h.token.clone()),
                from: h.from.clone(),
                pending: false,
            },
            _ => Verdict::Adopt(s.clone()),
        },
        // Refused by the flows before this is asked (a store read without
        // its key); taken for nothing, to be safe.
        Some(Entry::Sealed(_)) | None => match held {
            Some(h) => Verdict::Write {
                entry: Entry::Recovering(Recovery::written_back(h.token.clone())),
                from: h.from.clone(),
                pending: false,
            },
            None => Verdict::Empty {
                bootstrap: bootstrap_ok(None),
                after: None,
            },
        },
        Some(Entry::Recovering(r)) => {
            let copy = r.token();
            let named = |t: &TokenInfo| t.refresh_token.as_ref().is_some_and(|rt| r.refused(rt));
            match held.filter(|h| !named(&h.token)) {
                Some(h)
                    if !copy.is_some_and(|c| {
                        same(c.refresh_token.as_ref(), h.token.refresh_token.as_ref())
                            || newer_login(&h.token, c) == Some(false)
                    }) =>
                {
                    Verdict::Write {
                        entry: Entry::Recovering(r.with_token(h.token.clone())),
                        from: h.from.clone(),
                        pending: false,
                    }
                }
                _ => match copy {
                    Some(c) => Verdict::Adopt(c.clone()),
                    None => Verdict::Recovering {
                        bootstrap: mine
                            .bootstrap
                            .is_some_and(|b| Some(b) != mine.refused && !r.refused(b)),
                        since_ms: r.since_ms(),
                    },
                },
            }
        }
        Some(Entry::Ended(record)) => match (record.reason(), held) {
            (EndReason::Refused, Some(h))
                if succeeds(record, &h.from, &h.token) || later_login(&h.token, record) =>
            {
                Verdict::Write {
                    entry: Entry::Token(h.token.clone()),
                    from: h.from.clone(),
                    pending: false,
                }
            }
            (reason, Some(_)) => Verdict::Ended(reason),
            (reason, None) => Verdict::Empty {
                bootstrap: bootstrap_ok(Some(record)),
                after: Some(reason),
            },
        },
    }
}

/// Rule 1: whether a pending write goes ahead over `stored`.
fn pending_goes_ahead(p: &Pending, stored: Option<&Entry>) -> bool {
    let Some(stored_entry) = stored else {
        // The store lost its data: ours is the best there is.
        return true;
    };
    if let (Entry::Token(ours), Entry::Ended(record)) = (&p.entry, stored_entry)
        && record.reason() == EndReason::Refused
        && (succeeds(record, &p.from, ours) || later_login(ours, record))
    {
        // The refusal of a token ours descends from, or of an older
        // login's: ours goes on.
        return true;
    }
    // Two logins (the store lost its data, and the user logged in again
    // while an instance still held the old one): the newer authorization
    // wins, whichever write lands first.
    if let (Entry::Token(ours), Entry::Token(theirs)) = (&p.entry, stored_entry)
        && let Some(newer) = newer_login(ours, theirs)
    {
        return newer;
    }
    if let Entry::Recovering(r) = stored_entry {
        // A token Spotify issued goes over any copy written back after a
        // loss (unless refused since); a logout over anything.
        return match &p.entry {
            Entry::Token(ours) => {
                !ours.refresh_token.as_ref().is_some_and(|rt| r.refused(rt))
                    && r.token()
                        .is_none_or(|c| newer_login(ours, c) != Some(false))
            }
            Entry::Ended(ours) => ours.reason() == EndReason::Logout,
            Entry::Recovering(_) | Entry::Sealed(_) => {
                matches!(&p.base, Base::Known(Some(base)) if base == stored_entry)
            }
        };
    }
    match &p.base {
        Base::Known(base) => base.as_ref() == stored,
        Base::Unknown => match (&p.entry, stored_entry) {
            // A sealed entry never reaches the flows (they refuse it first).
            (Entry::Sealed(_), _) | (_, Entry::Sealed(_)) => false,
            // A token goes over an older token, or a record made before it.
            (Entry::Token(ours), Entry::Token(theirs)) => ours.expires_at > theirs.expires_at,
            (Entry::Token(_), Entry::Ended(record)) => record.at_ms() < p.issued_ms,
            // A logout goes over the login it names, or another record.
            (Entry::Ended(ours), Entry::Token(theirs)) => {
                theirs.refresh_token.as_ref().is_some_and(|r| ours.ends(r))
            }
            // A refusal never goes over another record: a logout's names
            // would be lost with it.
            (Entry::Ended(ours), Entry::Ended(_)) => ours.reason() == EndReason::Logout,
            // Written with a known base only (and a recovering store is
            // decided above).
            (Entry::Recovering(_), _) | (_, Entry::Recovering(_)) => false,
        },
    }
}

/// Whether `ours` comes from a later authorization than `theirs` (both
/// times known and different): `None` when that cannot be told (the same
/// login, or a time unknown, as for a bootstrap refresh token), and the
/// other rules decide.
fn newer_login(ours: &TokenInfo, theirs: &TokenInfo) -> Option<bool> {
    match (ours.authorized_at, theirs.authorized_at) {
        (Some(a), Some(b)) if a != b => Some(a > b),
        _ => None,
    }
}

/// Whether `token`, descending from `from`, is newer than the token
/// `record` refused (and is not itself refused: a refresh without rotation
/// keeps the refresh token it used).
fn succeeds(record: &LoginEnded, from: &Lineage, token: &TokenInfo) -> bool {
    from.named_by(record) && !token.refresh_token.as_ref().is_some_and(|r| record.ends(r))
}

/// Whether `token` belongs to a login authorized after the one `record`
/// refused (both times known), and is not itself named: another login,
/// which that refusal does not end.
fn later_login(token: &TokenInfo, record: &LoginEnded) -> bool {
    matches!(
        (token.authorized_at, record.login_authorized_at()),
        (Some(ours), Some(refused)) if ours > refused
    ) && !token.refresh_token.as_ref().is_some_and(|r| record.ends(r))
}

/// What to write after Spotify refused `refused`, given what the store
/// holds: the refusal, where the store still holds that token (or nothing);
/// in a recovering store, the copy named; beside another refusal, named
/// there too. `None`: nothing to write (a newer token, a logout, or the
/// refusal is there already).
///
/// `provisional`: the refused token was a copy written back after a data
/// loss found at that time (Unix ms): over nothing (the write-back itself
/// failed, or the store lost its data again), the refusal is recorded as a
/// recovery, which ends no other login.
///
/// `ancestors`: the refresh tokens the refused one descends from. A store
/// still holding one of them (the refused token's own write never landed)
/// holds a token rotated away: the record names it too, so that no sharer
/// sends it.
///
/// `login_at`: when the refused token's login was authorized (Unix
/// seconds), if known: the record says so, and a later login held
/// elsewhere goes over it (see [`reconcile`]).
pub(crate) fn refusal_over(
    stored: Option<&Entry>,
    refused: &RefreshToken,
    provisional: Option<u64>,
    ancestors: &Lineage,
    login_at: Option<u64>,
) -> Option<Entry> {
    let refusal = || LoginEnded::refusal(refused).of_login_authorized_at(login_at);
    let stale = |t: &TokenInfo| {
        t.refresh_token
            .as_ref()
            .is_some_and(|r| ancestors.contains(crate::entry::Fingerprint::of(r)))
    };
    match stored {
        Some(Entry::Token(t)) if stale(t) => {
            let mut record = refusal();
            record.name(t.refresh_token.iter().map(crate::entry::Fingerprint::of));
            Some(Entry::Ended(record))
        }
        Some(Entry::Recovering(r)) if r.token().is_some_and(stale) => {
            let copy = r.token().and_then(|t| t.refresh_token.clone());
            let mut next = r.after_refusal(refused);
            if let Some(copy) = copy {
                next = next.after_refusal(&copy);
            }
            Some(Entry::Recovering(next))
        }
        None => Some(match provisional {
            Some(since_ms) => Entry::Recovering(Recovery::from_parts(
                None,
                vec![crate::entry::Fingerprint::of(refused)],
                since_ms,
            )),
            None => Entry::Ended(refusal()),
        }),
        Some(Entry::Token(t)) if t.refresh_token.as_ref() == Some(refused) => {
            Some(Entry::Ended(refusal()))
        }
        Some(Entry::Recovering(r)) => {
            let next = r.after_refusal(refused);
            (next != *r).then_some(Entry::Recovering(next))
        }
        Some(Entry::Ended(other))
            if other.reason() == EndReason::Refused && !other.ends(refused) =>
        {
            let mut other = other.clone();
            other.also_refused(crate::entry::Fingerprint::of(refused), login_at);
            Some(Entry::Ended(other))
        }
        Some(_) => None,
    }
}

fn same(a: Option<&RefreshToken>, b: Option<&RefreshToken>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AccessToken;
    use crate::entry::Fingerprint;

    fn tok(access: &str, refresh: &str, expires_at: u64) -> TokenInfo {
        TokenInfo {
            access_token: AccessToken::new(access),
            expires_at,
            refresh_token: Some(RefreshToken::new(refresh)),
            scope: None,
            authorized_at: None,
        }
    }

    fn fp(refresh: &str) -> Fingerprint {
        Fingerprint::of(&RefreshToken::new(refresh))
    }

    fn held(t: &TokenInfo, from: Option<&str>) -> Held {
        Held {
            token: t.clone(),
            from: from.map(fp).into(),
        }
    }

    fn pending(entry: Entry, base: Base, from: Option<&str>) -> Pending {
        Pending {
            entry,
            base,
            from: from.map(fp).into(),
            issued_ms: crate::entry::now_ms(),
        }
    }

    fn writes(v: &Verdict) -> Option<&Entry> {
        match v {
            Verdict::Write { entry, .. } => Some(entry),
            _ => None,
        }
    }

    /// Two logins at once (the store lost its data; the user logged in
    /// again while an instance still held the old login, its write owed):
    /// the newer login's pending token goes over the older login's token
    /// whatever its base says; the older one's never goes over the newer
    /// one's; the same login, or an unknown time, is decided as before.
    #[test]
    fn a_newer_login_wins_over_an_older_one_whichever_lands_first() {
        let at = |t: TokenInfo, when: Option<u64>| TokenInfo {
            authorized_at: when,
            ..t
        };
        let old_login = at(tok("o", "O2", 500), Some(1_000));
        let new_login = at(tok("n", "N1", 400), Some(2_000));
        let base = Entry::Token(at(tok("o", "O1", 300), Some(1_000)));
        let decide = |ours: &TokenInfo, stored: &TokenInfo, base: &Entry| {
            let p = pending(
                Entry::Token(ours.clone()),
                Base::Known(Some(base.clone())),
                None,
            );
            let h = held(ours, None);
            reconcile(
                Some(&Entry::Token(stored.clone())),
                Mine {
                    held: Some(&h),
                    pending: Some(&p),
                    ..Mine::default()
                },
            )
        };
        // The newer login's write, owed since the store held O1, goes over
        // O2 (the older login, refreshed meanwhile).
        assert_eq!(
            writes(&decide(&new_login, &old_login, &base)),
            Some(&Entry::Token(new_login.clone()))
        );
        // The older login's write, owed since the store held N1's base,
        // does not go over the newer login: it is adopted.
        let newer_base = Entry::Token(new_login.clone());
        assert_eq!(
            decide(&old_login, &new_login, &newer_base),
            Verdict::Adopt(new_login.clone())
        );
        // Unknown times (a bootstrap token): the base decides, as before.
        let unknown = at(new_login.clone(), None);
        assert_eq!(
            decide(&unknown, &old_login, &base),
            Verdict::Adopt(old_login.clone())
        );
        // The same login: its base decides (O2 is newer than our base).
        let same = at(tok("n", "N1", 400), Some(1_000));
        assert_eq!(
            decide(&same, &old_login, &base),
            Verdict::Adopt(old_login.clone())
        );
        // Held, not owed: the newer login is written over the older one in
        // the store; the older one adopts the newer.
        let hold = |ours: &TokenInfo, stored: &Entry| {
            let h = held(ours, None);
            reconcile(
                Some(stored),
                Mine {
                    held: Some(&h),
                    ..Mine::default()
                },
            )
        };
        let old_entry = Entry::Token(old_login.clone());
        let new_entry = Entry::Token(new_login.clone());
        assert_eq!(writes(&hold(&new_login, &old_entry)), Some(&new_entry));
        assert_eq!(
            hold(&old_login, &new_entry),
            Verdict::Adopt(new_login.clone())
        );
        // A recovering store: the older login does not go over a copy of
        // the newer one, owed or held; the newer goes over the older.
        let rec = |t: &TokenInfo| Entry::Recovering(Recovery::written_back(t.clone()));
        assert_eq!(
            hold(&old_login, &rec(&new_login)),
            Verdict::Adopt(new_login.clone())
        );
        assert!(matches!(
            writes(&hold(&new_login, &rec(&old_login))),
            Some(Entry::Recovering(r)) if r.token() == Some(&new_login)
        ));
        let owed_old = pending(Entry::Token(old_login.clone()), Base::Unknown, None);
        let h = held(&old_login, None);
        assert_eq!(
            reconcile(
                Some(&rec(&new_login)),
                Mine {
                    held: Some(&h),
                    pending: Some(&owed_old),
                    ..Mine::default()
                },
            ),
            Verdict::Adopt(new_login.clone())
        );
    }

    #[test]
    fn row_1_a_store_that_lost_its_data_is_repaired_from_memory() {
        let t = tok("a", "r", 100);
        let h = held(&t, None);
        let v = reconcile(
            None,
            Mine {
                held: Some(&h),
                ..Mine::default()
            },
        );
        // Written back as a provisional login: perhaps a stale copy.
        let written = writes(&v).unwrap();
        assert!(matches!(written, Entry::Recovering(r) if r.token() == Some(&t) && r.is_empty()));
    }

    /// The data loss with stale holders (chaos finding F4): C holds S, a
    /// copy sharers rotated away; A holds V, the live one; B holds nothing.
    #[test]
    fn f4_a_recovering_store_lets_the_live_copy_win_and_sends_each_copy_once() {
        let s_tok = tok("s", "S", 100);
        let v_tok = tok("v", "V", 300);
        let (c, a) = (held(&s_tok, None), held(&v_tok, None));
        let decide = |stored: &Entry, h: Option<&Held>| {
            reconcile(
                Some(stored),
                Mine {
                    held: h,
                    ..Mine::default()
                },
            )
        };
        // C found the store empty and wrote S back.
        let with_s = Recovery::written_back(s_tok.clone());
        let stored = Entry::Recovering(with_s.clone());
        // A keeps V (S may be stale) and writes it back over S.
        assert_eq!(
            writes(&decide(&stored, Some(&a))),
            Some(&Entry::Recovering(with_s.with_token(v_tok.clone())))
        );
        // B, holding nothing, adopts the copy there.
        assert_eq!(decide(&stored, None), Verdict::Adopt(s_tok.clone()));
        // C sends S: refused. S is named, no copy left.
        let refused_s = refusal_over(
            Some(&stored),
            &RefreshToken::new("S"),
            None,
            &Lineage::none(),
            None,
        )
        .unwrap();
        let Entry::Recovering(r) = &refused_s else {
            panic!("still recovering: {refused_s:?}")
        };
        assert!(r.token().is_none() && r.refused(&RefreshToken::new("S")));
        // C (or anyone holding S) never sends it again; nobody is told to
        // log in again for now; A writes V back.
        assert!(matches!(
            decide(&refused_s, Some(&c)),
            Verdict::Recovering {
                bootstrap: false,
                ..
            }
        ));
        assert!(matches!(
            decide(&refused_s, None),
            Verdict::Recovering { .. }
        ));
        let with_v = writes(&decide(&refused_s, Some(&a))).unwrap().clone();
        assert_eq!(with_v.token(), Some(&v_tok));
        // Now C, holding the refused S, adopts V.
        assert_eq!(decide(&with_v, Some(&c)), Verdict::Adopt(v_tok.clone()));
        // A copy of the same login there is adopted (a newer access token).
        let v_newer = tok("v2", "V", 400);
        let stored = Entry::Recovering(with_s.with_token(v_newer.clone()));
        assert_eq!(decide(&stored, Some(&a)), Verdict::Adopt(v_newer));
    }

    #[test]
    fn a_recovering_store_ends_with_a_token_spotify_issued_or_a_logout() {
        let stored = Entry::Recovering(
            Recovery::written_back(tok("s", "S", 100)).after_refusal(&RefreshToken::new("X")),
        );
        let fresh = pending(Entry::Token(tok("w", "W", 500)), Base::Known(None), None);
        let refused_one = pending(Entry::Token(tok("x", "X", 500)), Base::Known(None), None);
        let logout = pending(Entry::Ended(LoginEnded::logout([])), Base::Unknown, None);
        let refusal = pending(
            Entry::Ended(LoginEnded::refusal(&RefreshToken::new("S"))),
            Base::Unknown,
            None,
        );
        let goes = |p: &Pending| pending_goes_ahead(p, Some(&stored));
        assert!(goes(&fresh), "a token Spotify issued ends the recovery");
        assert!(!goes(&refused_one), "never a copy refused since the loss");
        assert!(goes(&logout), "a logout goes over anything");
        assert!(!goes(&refusal), "a plain refusal does not");
        // A logout over a recovering store names its copies.
        let record = LoginEnded::logout_over(Some(&stored), &[]);
        assert!(record.ends(&RefreshToken::new("S")) && record.ends(&RefreshToken::new("X")));
    }

    #[test]
    fn a_refusal_is_written_where_it_belongs() {
        let t = RefreshToken::new("T");
        let plain = |e: Option<Entry>| matches!(e, Some(Entry::Ended(r)) if r.ends(&t) && r.reason() == EndReason::Refused);
        assert!(
            plain(refusal_over(None, &t, None, &Lineage::none(), None)),
            "a bootstrap token over nothing"
        );
        assert!(plain(refusal_over(
            Some(&Entry::Token(tok("a", "T", 1))),
            &t,
            None,
            &Lineage::none(),
            None
        )));
        assert_eq!(
            refusal_over(
                Some(&Entry::Token(tok("a", "U", 1))),
                &t,
                None,
                &Lineage::none(),
                None
            ),
            None,
            "a newer token stays"
        );
        let logout = Entry::Ended(LoginEnded::logout([]));
        assert_eq!(
            refusal_over(Some(&logout), &t, None, &Lineage::none(), None),
            None,
            "a logout stays"
        );
        let other = Entry::Ended(LoginEnded::refusal(&RefreshToken::new("O")));
        let both = refusal_over(Some(&other), &t, None, &Lineage::none(), None).unwrap();
        assert!(
            both.ended().unwrap().ends(&t) && both.ended().unwrap().ends(&RefreshToken::new("O"))
        );
        assert_eq!(
            refusal_over(Some(&both), &t, None, &Lineage::none(), None),
            None,
            "named already"
        );
        let rec = Entry::Recovering(Recovery::written_back(tok("a", "U", 1)));
        let named = refusal_over(Some(&rec), &t, None, &Lineage::none(), None).unwrap();
        assert_eq!(
            named.token().and_then(|x| x.refresh_token.clone()),
            Some(RefreshToken::new("U"))
        );
        assert_eq!(
            refusal_over(Some(&named), &t, None, &Lineage::none(), None),
            None,
            "named already"
        );
        // The store still holds an ancestor of the refused token (the
        // refused one's write never landed): named too.
        let older = Entry::Token(tok("a", "P", 1));
        let lineage = Lineage::after(Fingerprint::of(&RefreshToken::new("P")), &Lineage::none());
        let both = refusal_over(Some(&older), &t, None, &lineage, None).unwrap();
        let both = both.ended().unwrap();
        assert!(both.ends(&t) && both.ends(&RefreshToken::new("P")));
        // A copy written back after a loss whose write failed: a recovery.
        let lost = refusal_over(None, &t, Some(7), &Lineage::none(), None).unwrap();
        assert!(
            matches!(&lost, Entry::Recovering(r) if r.refused(&t) && r.token().is_none() && r.since_ms() == 7)
        );
    }

    #[test]
    fn nothing_anywhere_is_empty_and_a_bootstrap_token_may_be_sent() {
        let boot = RefreshToken::new("boot");
        let v = reconcile(
            None,
            Mine {
                bootstrap: Some(&boot),
                ..Mine::default()
            },
        );
        assert_eq!(
            v,
            Verdict::Empty {
                bootstrap: true,
                after: None
            }
        );
        let v = reconcile(None, Mine::default());
        assert_eq!(
            v,
            Verdict::Empty {
                bootstrap: false,
                after: None
            }
        );
    }

    #[test]
    fn row_2_and_f1_the_successor_of_a_refused_token_writes_over_the_refusal() {
        let old = RefreshToken::new("r-old");
        let successor = tok("a2", "r-new", 200);
        let refusal = Entry::Ended(LoginEnded::refusal(&old));
        // Pending (its fenced write failed): base was the old token.
        let p = pending(
            Entry::Token(successor.clone()),
            Base::Known(Some(Entry::Token(tok("a1", "r-old", 100)))),
            Some("r-old"),
        );
        let h = held(&successor, Some("r-old"));
        let v = reconcile(
            Some(&refusal),
            Mine {
                held: Some(&h),
                pending: Some(&p),
                ..Mine::default()
            },
        );
        assert_eq!(writes(&v), Some(&Entry::Token(successor.clone())));
        // Held only (stored once, then a stale sharer was refused).
        let v = reconcile(
            Some(&refusal),
            Mine {
                held: Some(&h),
                ..Mine::default()
            },
        );
        assert_eq!(writes(&v), Some(&Entry::Token(successor)));
    }

    #[test]
    fn a_refusal_ends_the_refused_token_and_unrelated_ones() {
        let refused = tok("a", "r", 100);
        let record = Entry::Ended(LoginEnded::refusal(refused.refresh_token.as_ref().unwrap()));
        let h = held(&refused, None);
        let v = reconcile(
            Some(&record),
            Mine {
                held: Some(&h),
                ..Mine::default()
            },
        );
        assert_eq!(v, Verdict::Ended(EndReason::Refused));
        // A login from before a logout and a new login, whose refresh
        // token is not the refused one's successor: not brought back.
        let stale = tok("s", "r-stale", 90);
        let h = held(&stale, Some("r-older"));
        let v = reconcile(
            Some(&record),
            Mine {
                held: Some(&h),
                ..Mine::default()
            },
        );
        assert_eq!(v, Verdict::Ended(EndReason::Refused));
        // Nothing held: reauthorize, or a bootstrap token it does not name.
        let boot = RefreshToken::new("new-boot");
        let v = reconcile(
            Some(&record),
            Mine {
                bootstrap: Some(&boot),
                ..Mine::default()
            },
        );
        assert_eq!(
            v,
            Verdict::Empty {
                bootstrap: true,
                after: Some(EndReason::Refused)
            }
        );
        let same = RefreshToken::new("r");
        let v = reconcile(
            Some(&record),
            Mine {
                bootstrap: Some(&same),
                ..Mine::default()
            },
        );
        assert_eq!(
            v,
            Verdict::Empty {
                bootstrap: false,
                after: Some(EndReason::Refused)
            }
        );
    }

    #[test]
    fn a_refresh_without_rotation_is_no_successor_of_its_own_refusal() {
        let t = tok("a", "r", 100);
        let record = Entry::Ended(LoginEnded::refusal(t.refresh_token.as_ref().unwrap()));
        let h = held(&t, Some("r"));
        let v = reconcile(
            Some(&record),
            Mine {
                held: Some(&h),
                ..Mine::default()
            },
        );
        assert_eq!(v, Verdict::Ended(EndReason::Refused));
        let p = pending(Entry::Token(t.clone()), Base::Known(None), Some("r"));
        let v = reconcile(
            Some(&record),
            Mine {
                pending: Some(&p),
                ..Mine::default()
            },
        );
        assert_eq!(
            v,
            Verdict::Empty {
                bootstrap: false,
                after: Some(EndReason::Refused)
            }
        );
    }

    #[test]
    fn f4_a_refusal_of_an_older_ancestor_is_written_over_by_its_descendant() {
        // This instance refreshed S into U, then U into V; a stale holder
        // spent S after a data loss and recorded its refusal.
        let v_tok = tok("v", "V", 300);
        let lineage = Lineage::after(fp("U"), &Lineage::after(fp("S"), &Lineage::none()));
        let h = Held {
            token: v_tok.clone(),
            from: lineage.clone(),
        };
        let refusal_of_s = Entry::Ended(LoginEnded::refusal(&RefreshToken::new("S")));
        let verdict = reconcile(
            Some(&refusal_of_s),
            Mine {
                held: Some(&h),
                ..Mine::default()
            },
        );
        assert_eq!(
            verdict,
            Verdict::Write {
                entry: Entry::Token(v_tok.clone()),
                from: lineage,
                pending: false
            }
        );
        // A refusal of a token it does not descend from ends it.
        let refusal_of_x = Entry::Ended(LoginEnded::refusal(&RefreshToken::new("X")));
        let verdict = reconcile(
            Some(&refusal_of_x),
            Mine {
                held: Some(&h),
                ..Mine::default()
            },
        );
        assert_eq!(verdict, Verdict::Ended(EndReason::Refused));
        // A logout naming an ancestor is never overridden.
        let logout = Entry::Ended(LoginEnded::logout([&RefreshToken::new("S")]));
        let verdict = reconcile(
            Some(&logout),
            Mine {
                held: Some(&h),
                ..Mine::default()
            },
        );
        assert_eq!(verdict, Verdict::Ended(EndReason::Logout));
    }

    #[test]
    fn f6_an_owed_refusal_never_goes_over_a_logout_made_since() {
        let refused = RefreshToken::new("T");
        let record = Entry::Ended(LoginEnded::refusal(&refused));
        let p = pending(record.clone(), Base::Unknown, None);
        let logout = Entry::Ended(LoginEnded::logout([&refused]));
        let over = |stored: Option<&Entry>| {
            reconcile(
                stored,
                Mine {
                    pending: Some(&p),
                    ..Mine::default()
                },
            )
        };
        assert!(matches!(
            over(Some(&logout)),
            Verdict::Empty {
                after: Some(EndReason::Logout),
                ..
            }
        ));
        // Over the refused token itself, or nothing: written.
        let stored = Entry::Token(tok("a", "T", 100));
        for stored in [Some(&stored), None] {
            assert_eq!(
                over(stored),
                Verdict::Write {
                    entry: record.clone(),
                    from: Lineage::none(),
                    pending: true
                }
            );
        }
    }

    #[test]
    fn a_logout_record_ends_every_held_login() {
        let t = tok("a", "r", 100);
        let logout = Entry::Ended(LoginEnded::logout([t.refresh_token.as_ref().unwrap()]));
        let h = held(&t, None);
        let v = reconcile(
            Some(&logout),
            Mine {
                held: Some(&h),
                ..Mine::default()
            },
        );
        assert_eq!(v, Verdict::Ended(EndReason::Logout));
        // Even one it does not name: it was adopted before the logout.
        let other = tok("b", "r-unnamed", 100);
        let h = held(&other, None);
        let v = reconcile(
            Some(&logout),
            Mine {
                held: Some(&h),
                ..Mine::default()
            },
        );
        assert_eq!(v, Verdict::Ended(EndReason::Logout));
    }

    #[test]
    fn row_5_a_logged_out_bootstrap_token_is_never_sent_a_new_one_is() {
        let ended = RefreshToken::new("boot");
        let logout = Entry::Ended(LoginEnded::logout([&ended]));
        let v = reconcile(
            Some(&logout),
            Mine {
                bootstrap: Some(&ended),
                ..Mine::default()
            },
        );
        assert_eq!(
            v,
            Verdict::Empty {
                bootstrap: false,
                after: Some(EndReason::Logout)
            }
        );
        let fresh = RefreshToken::new("a-new-bootstrap");
        let v = reconcile(
            Some(&logout),
            Mine {
                bootstrap: Some(&fresh),
                ..Mine::default()
            },
        );
        assert_eq!(
            v,
            Verdict::Empty {
                bootstrap: true,
                after: Some(EndReason::Logout)
            }
        );
    }

    #[test]
    fn row_4_a_pending_write_never_lands_after_a_logout_made_since() {
        let t = tok("a", "r", 100);
        // Issued over an empty store; a sharer logged out since.
        let p = pending(Entry::Token(t.clone()), Base::Known(None), None);
        let logout = Entry::Ended(LoginEnded::logout([]));
        let h = held(&t, None);
        let v = reconcile(
            Some(&logout),
            Mine {
                held: Some(&h),
                pending: Some(&p),
                ..Mine::default()
            },
        );
        assert_eq!(v, Verdict::Ended(EndReason::Logout));
        // Issued over that very record (a login after the logout): written.
        let p = pending(
            Entry::Token(t.clone()),
            Base::Known(Some(logout.clone())),
            None,
        );
        let v = reconcile(
            Some(&logout),
            Mine {
                held: Some(&h),
                pending: Some(&p),
                ..Mine::default()
            },
        );
        assert_eq!(writes(&v), Some(&Entry::Token(t)));
    }

    #[test]
    fn a_pending_write_gives_way_to_a_newer_token() {
        let mine = tok("a", "r1", 100);
        let theirs = tok("b", "r2", 200);
        let p = pending(
            Entry::Token(mine.clone()),
            Base::Known(Some(Entry::Token(tok("o", "r0", 50)))),
            Some("r0"),
        );
        let v = reconcile(
            Some(&Entry::Token(theirs.clone())),
            Mine {
                pending: Some(&p),
                ..Mine::default()
            },
        );
        assert_eq!(v, Verdict::Adopt(theirs));
    }

    #[test]
    fn an_unknown_base_orders_by_time() {
        let mine = tok("a", "r1", 200);
        let p = pending(Entry::Token(mine.clone()), Base::Unknown, None);
        let older = Entry::Token(tok("b", "r0", 100));
        let newer = Entry::Token(tok("c", "r2", 300));
        assert!(pending_goes_ahead(&p, Some(&older)));
        assert!(!pending_goes_ahead(&p, Some(&newer)));
        let mut before = LoginEnded::logout([]);
        before.at_ms = p.issued_ms - 1;
        let mut after = before.clone();
        after.at_ms = p.issued_ms + 1;
        assert!(pending_goes_ahead(&p, Some(&Entry::Ended(before))));
        assert!(!pending_goes_ahead(&p, Some(&Entry::Ended(after))));
        // A pending logout goes over the login it names, not another one.
        let r = RefreshToken::new("r0");
        let logout = pending(Entry::Ended(LoginEnded::logout([&r])), Base::Unknown, None);
        assert!(pending_goes_ahead(&logout, Some(&older)));
        assert!(!pending_goes_ahead(&logout, Some(&newer)));
        assert!(pending_goes_ahead(&logout, None));
    }

    #[test]
    fn a_token_this_instance_saw_refused_is_not_written_back() {
        let t = tok("a", "r", 100);
        let h = held(&t, None);
        let refused = RefreshToken::new("r");
        let v = reconcile(
            None,
            Mine {
                held: Some(&h),
                refused: Some(&refused),
                bootstrap: Some(&refused),
                ..Mine::default()
            },
        );
        assert_eq!(
            v,
            Verdict::Empty {
                bootstrap: false,
                after: None
            }
        );
    }

    #[test]
    fn a_token_in_the_store_is_adopted() {
        let t = tok("a", "r", 100);
        let h = held(&tok("old", "r0", 50), None);
        let v = reconcile(
            Some(&Entry::Token(t.clone())),
            Mine {
                held: Some(&h),
                ..Mine::default()
            },
        );
        assert_eq!(v, Verdict::Adopt(t));
    }

    /// A refusal records its login's authorization time: a login authorized
    /// later, held or owed, goes over it; the same login, an earlier one, a
    /// token it names, or a time unknown on either side ends as before.
    #[test]
    fn a_refusal_of_an_older_login_ends_no_newer_login() {
        let at = |t: TokenInfo, when: Option<u64>| TokenInfo {
            authorized_at: when,
            ..t
        };
        let refusal = |login_at: Option<u64>| {
            Entry::Ended(
                LoginEnded::refusal(&RefreshToken::new("O1")).of_login_authorized_at(login_at),
            )
        };
        let newer = at(tok("n", "N1", 400), Some(2_000));
        let verdict = |held_token: &TokenInfo, stored: &Entry| {
            let h = held(held_token, None);
            reconcile(
                Some(stored),
                Mine {
                    held: Some(&h),
                    ..Mine::default()
                },
            )
        };
        let new_entry = Entry::Token(newer.clone());
        assert_eq!(
            writes(&verdict(&newer, &refusal(Some(1_000)))),
            Some(&new_entry)
        );
        for (held_token, stored) in [
            (at(newer.clone(), Some(1_000)), refusal(Some(1_000))),
            (at(newer.clone(), Some(500)), refusal(Some(1_000))),
            (at(newer.clone(), None), refusal(Some(1_000))),
            (newer.clone(), refusal(None)),
            (at(tok("o", "O1", 400), Some(2_000)), refusal(Some(1_000))),
        ] {
            assert_eq!(
                verdict(&held_token, &stored),
                Verdict::Ended(EndReason::Refused),
                "{:?} over {stored:?}",
                held_token.authorized_at
            );
        }
        // A logout is not a refusal: it ends any login held.
        let logout = Entry::Ended(LoginEnded::logout([&RefreshToken::new("O1")]));
        assert_eq!(verdict(&newer, &logout), Verdict::Ended(EndReason::Logout));
        // Owed: the newer login's write goes over the older one's refusal.
        let owed = pending(new_entry.clone(), Base::Known(None), None);
        assert!(pending_goes_ahead(&owed, Some(&refusal(Some(1_000)))));
        assert!(!pending_goes_ahead(&owed, Some(&refusal(None))));
    }

    /// A refusal's login time is kept when recorded, and when a record
    /// names one more refused token: the later of the two, or none when
    /// either is unknown.
    #[test]
    fn a_refusal_keeps_its_logins_time() {
        let t = RefreshToken::new("T");
        let recorded = |stored: Option<&Entry>, login_at| match refusal_over(
            stored,
            &t,
            None,
            &Lineage::none(),
            login_at,
        ) {
            Some(Entry::Ended(r)) => r.login_authorized_at(),
            other => panic!("a refusal: {other:?}"),
        };
        assert_eq!(recorded(None, Some(5)), Some(5));
        let other = |at| {
            Entry::Ended(LoginEnded::refusal(&RefreshToken::new("S")).of_login_authorized_at(at))
        };
        assert_eq!(recorded(Some(&other(Some(9))), Some(5)), Some(9));
        assert_eq!(recorded(Some(&other(Some(3))), Some(5)), Some(5));
        assert_eq!(recorded(Some(&other(None)), Some(5)), None);
        assert_eq!(recorded(Some(&other(Some(3))), None), None);
    }
}
