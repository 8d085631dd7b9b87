//! `zb-journal-bench [dir]`: durable EMIT throughput of the journal core on a host file, next
//! to SQLite in WAL mode with `synchronous=FULL` inserting the same events, in the same run.
//!
//! For each batch size the same events are written both ways, several rounds, alternating
//! which goes first so that the machine's noise hits both alike: the journal appends a batch
//! with one `Journal::append` (one write, one `fdatasync`); SQLite inserts it in one
//! transaction (its WAL commit syncs). Both files live in the same directory (the same file
//! system). The journal's file is opened for direct I/O where the file system allows it (see
//! `FileMedium`), as the kernel's journal on virtio-blk goes to the disk without a cache;
//! SQLite uses the page cache as it does everywhere. Output: one line per batch size,
//! `journal-bench batch=N events=E journal_eps=… sqlite_eps=… ratio=…` (ratio = journal /
//! SQLite, medians of the rounds).

mod file_medium;

use std::path::{Path, PathBuf};
use std::time::Instant;

use zb_journal::{Envelope, Geometry, Journal, JournalConfig};

use file_medium::FileMedium;

/// Rounds per batch size (the median is reported).
const ROUNDS: usize = 5;

fn event(i: u64) -> Envelope {
    Envelope {
        name: "ledger.transfer.requested".into(),
        version: 1,
        ts_us: i,
        source: "run:7 bench".into(),
        correlation_id: i,
        causation_id: 0,
        tenant: "acme".into(),
        headers: vec![("idempotency_key".into(), format!("bench-{i}"))],
        payload: format!(
            r#"{{"from":"account-{:04}","to":"account-{:04}","amount":{},"memo":"monthly settlement, invoice {:08}"}}"#,
            i % 977,
            (i * 7) % 977,
            i % 1000 + 1,
            i
        )
        .into_bytes(),
        origin: None,
    }
}

fn journal_run(dir: &Path, batch: usize, events: usize) -> f64 {
    let path = dir.join("bench.journal");
    // 32 MiB, preallocated (see `FileMedium::create`); the x86_64 disk's write unit.
    let geometry = Geometry {
        segment_bytes: 8 << 20,
        segments: 4,
        write_unit: 512,
    };
    let medium = FileMedium::create(&path, geometry).expect("journal file");
    if !medium.is_direct() {
        eprintln!("journal-bench: no direct I/O on this file system: through the page cache");
    }
    let config = JournalConfig {
        max_record: 4096,
        dedupe_window: 1024,
        dedupe_secret: 0,
    };
    let (mut j, _) = Journal::open(medium, config).expect("journal opens");
    let all: Vec<Envelope> = (0..events as u64).map(event).collect();
    let start = Instant::now();
    for chunk in all.chunks(batch) {
        j.append(chunk).expect("append");
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    events as f64 / secs
}

fn sqlite_run(dir: &Path, batch: usize, events: usize) -> f64 {
    let path = dir.join("bench.sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let mut db = rusqlite::Connection::open(&path).expect("sqlite opens");
    db.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
         CREATE TABLE events (seq INTEGER PRIMARY KEY, name TEXT NOT NULL, version INTEGER,
           ts INTEGER, source TEXT, correlation_id INTEGER, causation_id INTEGER, tenant TEXT,
           headers TEXT, payload BLOB);",
    )
    .expect("schema");
    let all: Vec<Envelope> = (0..events as u64).map(event).collect();
    let start = Instant::now();
    for chunk in all.chunks(batch) {
        let tx = db.transaction().expect("begin");
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO events (name, version, ts, source, correlation_id,
                       causation_id, tenant, headers, payload) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
                )
                .expect("prepare");
            for e in chunk {
                let headers: String = e
                    .headers
                    .iter()
                    .map(|(k, v)| format!("{k}={v}\n"))
                    .collect();
                insert
                    .execute(rusqlite::params![
                        e.name,
                        e.version,
                        e.ts_us as i64,
                        e.source,
                        e.correlation_id as i64,
                        e.causation_id as i64,
                        e.tenant,
                        headers,
                        e.payload
                    ])
                    .expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    let secs = start.elapsed().as_secs_f64();
    drop(db);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    events as f64 / secs
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let dir: PathBuf = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&dir).expect("bench directory");
    for (batch, events) in [(1usize, 1000usize), (16, 8000), (256, 32768)] {
        let (mut j, mut s) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            if round % 2 == 0 {
                j.push(journal_run(&dir, batch, events));
                s.push(sqlite_run(&dir, batch, events));
            } else {
                s.push(sqlite_run(&dir, batch, events));
                j.push(journal_run(&dir, batch, events));
            }
        }
        let (j, s) = (median(j), median(s));
        println!(
            "journal-bench batch={batch} events={events} journal_eps={j:.0} sqlite_eps={s:.0} ratio={:.2}",
            j / s
        );
    }
}
