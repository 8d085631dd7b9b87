//! Views (DESIGN.md §6): state folded from the journal by a deterministic reducer, with its
//! height (the last sequence number folded), its snapshots, and its residency.
//!
//! The reducer is the kernel's (a wasm module, run by its task engine); the bus sees it
//! through two small traits: a [`Reducer`] starts a [`Fold`], which folds events, answers
//! `scan`, and gives and takes its state's bytes (what a snapshot holds). Everything else is
//! here: which events a view folds, its height, that a failure stops it, and paging — a
//! paged-out view keeps only its state's bytes ([`View::page_out`]) and is started again from
//! them when next needed ([`View::page_in`]), then caught up from the journal by the bus.
//!
//! Invariants:
//! - A view folds events in sequence order, each at most once: an event at or below its height
//!   is skipped, and a paged-out view's height does not move (its events wait in the journal).
//! - A failed fold or scan stops the view (`failed`, reported by `scan`); nothing else.
//! - Paging in either succeeds with the state it was paged out with, or leaves the view paged
//!   out, unchanged.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use zb_abi::Error;
use zb_abi::bus::EventView;
use zb_abi::view::INPUT_BYTES;
use zb_journal::{Envelope, Journal, Medium};

use crate::bus::{Bus, SYSTEM};
use crate::snapshot::{self, Newest};
use crate::subject::{check_pattern, matches};

/// A view's reducer, started: it folds events into its state and answers questions about it.
pub trait Fold {
    /// Folds one event (`attempt` is 1). `Err`: the reducer failed, and the view stops.
    fn fold(&mut self, event: &EventView<'_>) -> Result<(), String>;
    /// Its answer about `key` (`None`: it has nothing for it). `Err`: it failed.
    fn scan(&mut self, key: &str) -> Result<Option<Vec<u8>>, String>;
    /// Its state's bytes (what a snapshot records).
    fn image(&self) -> Vec<u8>;
    /// How many bytes [`Fold::image`] gives (without copying them, where it can).
    fn image_len(&self) -> usize {
        self.image().len()
    }
    /// Takes `image` as its state.
    fn restore(&mut self, image: &[u8]) -> Result<(), String>;
}

/// A view's reducer program: what starts its [`Fold`] (at load, and at every page-in).
pub trait Reducer {
    type Fold: Fold;
    /// A new fold with the program's initial state.
    fn start(&self) -> Result<Self::Fold, String>;
}

enum State<F> {
    /// Boxed: a started reducer can be large (a wasm store), kept only while resident.
    Resident(Box<F>),
    /// Paged out: the state's bytes at the view's height.
    PagedOut(Vec<u8>),
}

/// One view.
pub struct View<R: Reducer> {
    pub name: String,
    pub pattern: String,
    /// The last sequence number folded (0: none).
    pub height: u64,
    /// The height of its newest *durable* snapshot (0: none): events up to it may be released.
    pub sealed: u64,
    /// A snapshot queued for the next commit, at this height: it becomes `sealed` only once
    /// committed, so no event it covers is released before the snapshot is on the medium.
    pub sealing: Option<u64>,
    /// When its newest snapshot was committed (kernel microseconds; 0: before this boot, or
    /// never).
    pub sealed_us: u64,
    /// Why it stopped, if it did.
    pub failed: Option<String>,
    reducer: R,
    state: State<R::Fold>,
}

impl<R: Reducer> View<R> {
    /// View `name` folding `pattern` with `reducer`, started (at height 0).
    pub fn new(name: &str, pattern: &str, reducer: R) -> Result<View<R>, String> {
        let fold = reducer.start()?;
        Ok(View {
            name: String::from(name),
            pattern: String::from(pattern),
            height: 0,
            sealed: 0,
            sealing: None,
            sealed_us: 0,
            failed: None,
            reducer,
            state: State::Resident(Box::new(fold)),
        })
    }

    /// Its reducer program.
    pub fn reducer(&self) -> &R {
        &self.reducer
    }

    pub fn is_resident(&self) -> bool {
        matches!(self.state, State::Resident(_))
    }

    /// `resident`, `paged out` or `stopped` (for `proc://bus`).
    pub fn state_name(&self) -> &'static str {
        match (&self.failed, self.is_resident()) {
            (Some(_), _) => "stopped",
            (None, true) => "resident",
            (None, false) => "paged out",
        }
    }

    /// Drops the started reducer, keeping its state's bytes; false if it was not resident or
    /// has stopped (a stopped view answers nothing anyway and is left as it is).
    pub fn page_out(&mut self) -> bool {
        if self.failed.is_some() || !self.is_resident() {
            return false;
        }
        self.state = State::PagedOut(self.image());
        true
    }

    /// Starts the reducer again with the state it was paged out with. On failure the view
    /// stays paged out, unchanged.
    pub fn page_in(&mut self) -> Result<(), String> {
        let State::PagedOut(image) = &self.state else {
            return Ok(());
        };
        let mut fold = self.reducer.start()?;
        fold.restore(image)?;
        self.state = State::Resident(Box::new(fold));
        Ok(())
    }

    /// Folds event `seq` if it matches and is above the height (not while paged out: the event
    /// is folded when the view is paged in and caught up). `headers`: the event's header lines.
    pub fn apply(&mut self, seq: u64, event: &Envelope, headers: &str) {
        if self.failed.is_some() || seq <= self.height {
            return;
        }
        let State::Resident(fold) = &mut self.state else {
            return;
        };
        self.height = seq;
        if !matches(&self.pattern, &event.name) {
            return;
        }
        let view = EventView {
            seq,
            ts_us: event.ts_us,
            correlation_id: event.correlation_id,
            causation_id: event.causation_id,
            version: event.version,
            attempt: 1,
            name: &event.name,
            source: &event.source,
            tenant: &event.tenant,
            headers,
            payload: &event.payload,
        };
        if let Err(why) = fold.fold(&view) {
            self.failed = Some(format!("reduce of event {seq} failed: {why}"));
        }
    }

    /// The view's answer about `key`.
    pub fn scan(&mut self, key: &str) -> Result<Vec<u8>, (Error, String)> {
        if let Some(why) = &self.failed {
            return Err((Error::Corrupt, format!("view {} stopped: {why}", self.name)));
        }
        if key.len() > INPUT_BYTES {
            return Err((Error::TooLarge, String::from("the key is too long")));
        }
        let State::Resident(fold) = &mut self.state else {
            return Err((
                Error::OutOfMemory,
                format!("view {} is paged out", self.name),
            ));
        };
        match fold.scan(key) {
            Ok(Some(answer)) => Ok(answer),
            Ok(None) => Err((
                Error::NotFound,
                format!("view {} has nothing for {key:?}", self.name),
            )),
            Err(why) => {
                self.failed = Some(format!("scan failed: {why}"));
                Err((Error::Corrupt, format!("view {}: scan failed", self.name)))
            }
        }
    }

    /// How many bytes its state has (what a snapshot of it records).
    pub fn image_len(&self) -> usize {
        match &self.state {
            State::Resident(fold) => fold.image_len(),
            State::PagedOut(image) => image.len(),
        }
    }

    /// The state's bytes (at `height`), for a snapshot.
    pub fn image(&self) -> Vec<u8> {
        match &self.state {
            State::Resident(fold) => fold.image(),
            State::PagedOut(image) => image.clone(),
        }
    }

    /// Restores a snapshot taken at `height`: the state's bytes.
    pub fn restore(&mut self, height: u64, image: &[u8]) -> Result<(), String> {
        match &mut self.state {
            State::Resident(fold) => fold.restore(image)?,
            State::PagedOut(kept) => *kept = image.to_vec(),
        }
        self.height = height;
        self.sealed = height;
        Ok(())
    }
}

/// Folds into `view` what `journal` holds above its height.
fn catch_up<M: Medium, R: Reducer>(
    journal: &mut Journal<M>,
    view: &mut View<R>,
) -> Result<(), String> {
    // Events it has not folded that the journal no longer holds: its state would be wrong
    // from here on, so it stops, saying which (never folds over the gap).
    let first = journal.first_seq();
    if view.failed.is_none() && first > view.height + 1 && journal.last_seq() >= first {
        view.failed = Some(format!(
            "events {}..{} it has not folded are gone from the journal (no snapshot covers them)",
            view.height + 1,
            first - 1
        ));
        return Ok(());
    }
    let from = (view.height + 1).max(first);
    journal
        .read_from(from, &mut |seq, event| {
            let headers = event.header_lines();
            view.apply(seq, event, &headers);
            true
        })
        .map_err(|e| format!("the journal cannot be read: {e}"))?;
    view.height = view.height.max(journal.last_seq());
    Ok(())
}

impl<M: Medium, R: Reducer> Bus<M, R> {
    /// Loads view `name` (`reducer` folding `pattern`): from its newest snapshot, then every
    /// event after it. The line for the boot log.
    pub fn add_view(&mut self, name: &str, pattern: &str, reducer: R) -> Result<String, String> {
        check_pattern(pattern).map_err(|e| format!("pattern {pattern:?}: {e}"))?;
        if self.views.iter().any(|v| v.name == name) {
            return Err(String::from("declared twice"));
        }
        let mut view = View::new(name, pattern, reducer)?;
        let restored = match self.newest_snapshot(name) {
            Ok(Some((height, image))) => match view.restore(height, &image) {
                Ok(()) => format!(", from its snapshot at {height}"),
                Err(e) => format!(" (snapshot at {height} unusable: {e})"),
            },
            Ok(None) => String::new(),
            Err(e) => format!(" (snapshots unreadable: {e})"),
        };
        catch_up(&mut self.journal, &mut view)?;
        let line = match &view.failed {
            Some(why) => format!("view {name}: stopped: {why}"),
            None => format!("view {name}: height {}{restored}", view.height),
        };
        self.views.push(view);
        Ok(line)
    }

    /// The newest complete snapshot of view `name` in the journal: its height and state.
    fn newest_snapshot(&mut self, name: &str) -> Result<Option<(u64, Vec<u8>)>, String> {
        let mut newest = Newest::new(name);
        let first = self.journal.first_seq();
        self.journal
            .read_from(first, &mut |_, event| {
                newest.see(event);
                true
            })
            .map_err(|e| format!("{e}"))?;
        Ok(newest.found())
    }

    /// Pages out every resident view ([`View::page_out`]) to give the memory back; how many
    /// were.
    pub fn page_out_views(&mut self) -> usize {
        self.views
            .iter_mut()
            .map(View::page_out)
            .filter(|&out| out)
            .count()
    }

    /// View `name`.
    pub fn view(&self, name: &str) -> Option<&View<R>> {
        self.views.iter().find(|v| v.name == name)
    }

    /// Every view, for `proc://bus`: (name, height, sealed height, [`View::state_name`]).
    pub fn views(&self) -> impl Iterator<Item = (&str, u64, u64, &'static str)> {
        self.views
            .iter()
            .map(|v| (v.name.as_str(), v.height, v.sealed, v.state_name()))
    }

    /// Makes view `name` resident and current: paged in if it was out, and caught up with the
    /// journal.
    pub fn current_view(&mut self, name: &str) -> Result<&mut View<R>, (Error, String)> {
        let view = self
            .views
            .iter_mut()
            .find(|v| v.name == name)
            .ok_or_else(|| (Error::NotFound, format!("no view named {name:?}")))?;
        if !view.is_resident() {
            view.page_in().map_err(|why| {
                (
                    Error::OutOfMemory,
                    format!("view {name} was paged out and cannot be loaded: {why}"),
                )
            })?;
            catch_up(&mut self.journal, view).map_err(|why| (Error::Corrupt, why))?;
        }
        Ok(view)
    }

    /// Asks view `name` about `key`.
    pub fn scan(&mut self, name: &str, key: &str) -> Result<Vec<u8>, (Error, String)> {
        self.current_view(name)?.scan(key)
    }

    /// Snapshots view `name` at its height: its state goes into the journal, in parts, as
    /// `_snapshot.<name>` events (with the next commit). Returns the height. Events below every
    /// view's newest snapshot may then be dropped when the journal needs room.
    pub fn seal(&mut self, name: &str, now_us: u64) -> Result<u64, (Error, String)> {
        let max_record = self.max_record;
        let view = self.current_view(name)?;
        if let Some(why) = &view.failed {
            return Err((Error::Corrupt, format!("view {name} stopped: {why}")));
        }
        let image = view.image();
        let height = view.height;
        // Sealed once the snapshot is committed (`Bus::commit`): until then nothing it covers
        // may be released.
        view.sealing = Some(height);
        for event in snapshot::parts(name, height, &image, max_record, now_us) {
            self.queue(SYSTEM, event);
        }
        Ok(height)
    }
}
