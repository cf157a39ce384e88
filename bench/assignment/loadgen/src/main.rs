//! Load generator for bench/assignment (issue 4 §4). Not part of the didhub workspace.
//!
//!   loadgen assign --url U --token T --pool FILE --cps FILE --clients 32 --seconds S
//!                  --mode distinct|cycle [--log FILE]
//!     distinct: every client takes the next DID id of the (shuffled) pool and assigns it to
//!               its own client package (one DID per request); no id is asked for twice.
//!     cycle:    every client picks a random DID of the shared pool, assigns it, and when that
//!               succeeds unassigns it again (409 = someone else holds it: counted, not an error).
//!               --total-assigns N stops once N assignments succeeded in all (--seconds caps it).
//!     --log writes one line per successful assign/unassign: `A|U <did> <cp>` (for the check).
//!
//!   loadgen blocks --target NAME=URL,TOKEN,CPSFILE [--target ...] --size 1000
//!                  --country FR --number-type fixed_line [--pause-ms N]
//!     one block allocation per client package of each target, targets interleaved,
//!     sequential (one request at a time); prints every latency. --pause-ms N waits N ms
//!     before every request.
//!
//!   loadgen routing --url U --token T --rate R --conns 8 --seconds S --first N --count C
//!     open loop: each of the connections sends `GET /api/v1/routing/%2B<n>` (n random in
//!     [N, N+C)) at Poisson-distributed times, R requests/s over all of them. A request's
//!     latency runs from its scheduled time (as `pgbench --rate` counts it), so a server that
//!     falls behind is charged for the wait. One thread and one blocking connection per
//!     client (pgbench runs its clients on -j threads; its per-client cost is similar).
//!     --log FILE writes every latency in pgbench's --log layout (µs, third column).
//!     --rate 0: a closed loop instead (each client sends its next request as soon as the
//!     answer is in, as pgbench without --rate and wrk do); every latency is recorded as
//!     measured, like pgbench's --log and unlike wrk's report (see latency_pcts.py).
//!     --paths FILE: each request GETs a random line of FILE (a path with its query, e.g.
//!     `/api/v1/dids?prefix=%2B4420`) instead of a routing number (--first/--count unused).
//!     --cookie 'didhub_session=…' sends that cookie instead of the bearer token (a portal
//!     page; --token unused).
//!
//! Prints one JSON object on stdout.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{json, Value};

fn args() -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let a: Vec<String> = std::env::args().skip(2).collect();
    let mut i = 0;
    while i < a.len() {
        let k = a[i].trim_start_matches("--").to_string();
        let v = a.get(i + 1).cloned().unwrap_or_default();
        m.entry(k).or_default().push(v);
        i += 2;
    }
    m
}

fn one(m: &BTreeMap<String, Vec<String>>, k: &str, default: Option<&str>) -> String {
    m.get(k)
        .and_then(|v| v.last().cloned())
        .or(default.map(String::from))
        .unwrap_or_else(|| panic!("--{k} is required"))
}

fn lines(path: &str) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary_ms(mut v: Vec<f64>) -> Value {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    json!({
        "n": v.len(),
        "p50_ms": pct(&v, 50.0), "p95_ms": pct(&v, 95.0), "p99_ms": pct(&v, 99.0),
        "p999_ms": pct(&v, 99.9), "over_10ms": v.iter().filter(|&&x| x > 10.0).count(),
        "max_ms": v.last().copied().unwrap_or(f64::NAN),
        "mean_ms": if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 },
    })
}

fn client(conns: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(conns)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

#[derive(Default)]
struct Tally {
    assign_ok: u64,
    assign_conflict: u64,
    assign_other: BTreeMap<String, u64>,
    unassign_ok: u64,
    unassign_other: BTreeMap<String, u64>,
    assign_lat: Vec<f64>,
    unassign_lat: Vec<f64>,
    log: Vec<String>,
    first_errors: Vec<String>,
}

async fn assign(m: BTreeMap<String, Vec<String>>) -> Value {
    let url = one(&m, "url", None);
    let token = one(&m, "token", None);
    let pool = Arc::new(lines(&one(&m, "pool", None)));
    let cps = Arc::new(lines(&one(&m, "cps", None)));
    let clients: usize = one(&m, "clients", Some("32")).parse().unwrap();
    let secs: f64 = one(&m, "seconds", Some("20")).parse().unwrap();
    let mode = one(&m, "mode", Some("distinct"));
    let log = m.get("log").and_then(|v| v.last().cloned());
    let http = client(clients * 2);
    let cursor = Arc::new(AtomicUsize::new(0));
    // cycle: stop once this many assignments succeeded in all (and were unassigned again).
    let total: usize = one(&m, "total-assigns", Some("0")).parse().unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, url, token, pool, cps, cursor, mode, done) = (
            http.clone(),
            url.clone(),
            token.clone(),
            pool.clone(),
            cps.clone(),
            cursor.clone(),
            mode.clone(),
            done.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let cp = cps[c % cps.len()].clone();
            let mut t = Tally::default();
            let auth = format!("Bearer {token}");
            let mut rng = rand::rngs::StdRng::from_entropy();
            while Instant::now() < deadline && (total == 0 || done.load(Ordering::Relaxed) < total) {
                let did = if mode == "distinct" {
                    let i = cursor.fetch_add(1, Ordering::Relaxed);
                    if i >= pool.len() {
                        break;
                    }
                    pool[i].clone()
                } else {
                    pool[rng.gen_range(0..pool.len())].clone()
                };
                let t0 = Instant::now();
                let r = http
                    .post(format!("{url}/api/v1/client-packages/{cp}/dids"))
                    .header("authorization", &auth)
                    .json(&json!({"did_ids": [did], "destination": "sip:bench@pbx.example.com"}))
                    .send()
                    .await;
                let (status, body) = match r {
                    Ok(r) => {
                        let s = r.status().as_u16();
                        (s, r.text().await.unwrap_or_default())
                    }
                    Err(e) => (0, e.to_string()),
                };
                t.assign_lat.push(t0.elapsed().as_secs_f64() * 1e3);
                match status {
                    200 => {
                        t.assign_ok += 1;
                        done.fetch_add(1, Ordering::Relaxed);
                        t.log.push(format!("A {did} {cp}"));
                    }
                    409 => t.assign_conflict += 1,
                    s => {
                        *t.assign_other.entry(s.to_string()).or_default() += 1;
                        if t.first_errors.len() < 3 {
                            t.first_errors.push(format!("assign {s}: {}", &body[..body.len().min(300)]));
                        }
                    }
                }
                if status == 200 && mode == "cycle" {
                    let t0 = Instant::now();
                    let r = http
                        .delete(format!("{url}/api/v1/client-packages/{cp}/dids/{did}"))
                        .header("authorization", &auth)
                        .send()
                        .await;
                    let (status, body) = match r {
                        Ok(r) => {
                            let s = r.status().as_u16();
                            (s, r.text().await.unwrap_or_default())
                        }
                        Err(e) => (0, e.to_string()),
                    };
                    t.unassign_lat.push(t0.elapsed().as_secs_f64() * 1e3);
                    if status == 200 {
                        t.unassign_ok += 1;
                        t.log.push(format!("U {did} {cp}"));
                    } else {
                        *t.unassign_other.entry(status.to_string()).or_default() += 1;
                        if t.first_errors.len() < 3 {
                            t.first_errors.push(format!("unassign {status}: {}", &body[..body.len().min(300)]));
                        }
                    }
                }
            }
            t
        }));
    }
    let mut all = Tally::default();
    for h in tasks {
        let t = h.await.unwrap();
        all.assign_ok += t.assign_ok;
        all.assign_conflict += t.assign_conflict;
        all.unassign_ok += t.unassign_ok;
        for (k, v) in t.assign_other {
            *all.assign_other.entry(k).or_default() += v;
        }
        for (k, v) in t.unassign_other {
            *all.unassign_other.entry(k).or_default() += v;
        }
        all.assign_lat.extend(t.assign_lat);
        all.unassign_lat.extend(t.unassign_lat);
        all.log.extend(t.log);
        all.first_errors.extend(t.first_errors);
    }
    let elapsed = start.elapsed().as_secs_f64();
    if let Some(path) = log {
        let mut s = all.log.join("\n");
        s.push('\n');
        std::fs::write(&path, s).unwrap();
    }
    json!({
        "mode": mode, "clients": clients, "elapsed_s": elapsed,
        "assign_ok": all.assign_ok, "assign_conflict": all.assign_conflict,
        "assign_other": all.assign_other, "unassign_ok": all.unassign_ok,
        "unassign_other": all.unassign_other,
        "assigns_per_s": all.assign_ok as f64 / elapsed,
        "requests_per_s": (all.assign_lat.len() + all.unassign_lat.len()) as f64 / elapsed,
        "assign_latency": summary_ms(all.assign_lat),
        "unassign_latency": summary_ms(all.unassign_lat),
        "first_errors": all.first_errors,
    })
}

async fn blocks(m: BTreeMap<String, Vec<String>>) -> Value {
    let size: u32 = one(&m, "size", Some("1000")).parse().unwrap();
    let country = one(&m, "country", Some("FR"));
    let number_type = one(&m, "number-type", Some("fixed_line"));
    let mut targets = Vec::new();
    for t in m.get("target").expect("--target is required") {
        let (name, rest) = t.split_once('=').expect("NAME=URL,TOKEN,CPSFILE");
        let p: Vec<&str> = rest.split(',').collect();
        targets.push((name.to_string(), p[0].to_string(), p[1].to_string(), lines(p[2])));
    }
    let pause: u64 = one(&m, "pause-ms", Some("0")).parse().unwrap();
    let http = client(4);
    let n = targets.iter().map(|t| t.3.len()).min().unwrap_or(0);
    let mut lat: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
    let mut blocks: Vec<Vec<String>> = vec![Vec::new(); targets.len()];
    let mut errors: Vec<String> = Vec::new();
    for i in 0..n {
        for (k, (name, url, token, cps)) in targets.iter().enumerate() {
            if pause > 0 {
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            let t0 = Instant::now();
            let r = http
                .post(format!("{url}/api/v1/client-packages/{}/blocks", cps[i]))
                .header("authorization", format!("Bearer {token}"))
                .json(&json!({"size": size, "country": country, "number_type": number_type, "destination": "sip:bench@pbx.example.com"}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            if status == 200 {
                lat[k].push(ms);
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                blocks[k].push(format!("{}", v["block"]["first"].as_str().unwrap_or("?")));
            } else {
                errors.push(format!("{name} #{i}: {status} {}", &body[..body.len().min(300)]));
            }
        }
    }
    let mut out = serde_json::Map::new();
    for (k, (name, ..)) in targets.iter().enumerate() {
        out.insert(
            name.clone(),
            json!({"latency": summary_ms(lat[k].clone()), "all_ms": lat[k], "first_numbers": blocks[k]}),
        );
    }
    out.insert("errors".into(), json!(errors));
    Value::Object(out)
}

/// Open-loop routing lookups at a fixed rate (see the header). One OS thread and one blocking
/// keep-alive connection per client, sleeping with `thread::sleep` (a high-resolution timer,
/// as pgbench's `select` is): tokio's timer wheel rounds sleeps up to whole milliseconds,
/// which alone would add up to a millisecond to every request of an open loop.
fn routing(m: BTreeMap<String, Vec<String>>) -> Value {
    use std::io::{BufRead, BufReader, Read, Write};
    let url = one(&m, "url", None);
    // A portal page is read with the session cookie (`--cookie 'didhub_session=…'`) instead.
    let auth = match m.get("cookie").and_then(|v| v.last()) {
        Some(c) => format!("Cookie: {c}"),
        None => format!("Authorization: Bearer {}", one(&m, "token", None)),
    };
    let rate: f64 = one(&m, "rate", None).parse().unwrap();
    let conns: usize = one(&m, "conns", Some("8")).parse().unwrap();
    let secs: f64 = one(&m, "seconds", Some("20")).parse().unwrap();
    let paths: Arc<Vec<String>> = Arc::new(
        m.get("paths")
            .and_then(|v| v.last())
            .map(|f| lines(f))
            .unwrap_or_default(),
    );
    let (first, count): (u64, u64) = if paths.is_empty() {
        (
            one(&m, "first", None).parse().unwrap(),
            one(&m, "count", None).parse().unwrap(),
        )
    } else {
        (0, 0)
    };
    let addr = url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let per_conn = rate / conns as f64;
    let threads: Vec<_> = (0..conns)
        .map(|_| {
            let (addr, auth, paths) = (addr.clone(), auth.clone(), paths.clone());
            std::thread::spawn(move || {
                let stream = std::net::TcpStream::connect(&addr).expect("connect");
                stream.set_nodelay(true).unwrap();
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                let mut rng = rand::rngs::StdRng::from_entropy();
                let (mut lat, mut bad, mut lag_max) = (Vec::new(), 0u64, 0f64);
                let mut next = Instant::now();
                let mut line = String::new();
                let mut body = Vec::new();
                loop {
                    if per_conn > 0.0 {
                        // Exponential gaps: a Poisson arrival process, as pgbench --rate schedules.
                        let u: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
                        next += Duration::from_secs_f64(-u.ln() / per_conn);
                    } else {
                        // --rate 0: a closed loop, the next request as soon as the answer is in.
                        next = Instant::now();
                    }
                    if next >= deadline {
                        break;
                    }
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    }
                    lag_max = lag_max.max(Instant::now().saturating_duration_since(next).as_secs_f64() * 1e3);
                    let path = if paths.is_empty() {
                        format!("/api/v1/routing/%2B{}", first + rng.gen_range(0..count))
                    } else {
                        paths[rng.gen_range(0..paths.len())].clone()
                    };
                    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}\r\n\r\n");
                    w.write_all(req.as_bytes()).expect("send");
                    // Status line, headers (Content-Length), body.
                    line.clear();
                    r.read_line(&mut line).expect("status line");
                    let ok = line.split(' ').nth(1).is_some_and(|c| c.starts_with('2'));
                    let mut len = 0usize;
                    loop {
                        line.clear();
                        r.read_line(&mut line).expect("header");
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = l.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                len = v.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    body.resize(len, 0);
                    r.read_exact(&mut body).expect("body");
                    lat.push(next.elapsed().as_secs_f64() * 1e3);
                    bad += u64::from(!ok);
                }
                (lat, bad, lag_max)
            })
        })
        .collect();
    let (mut all, mut bad, mut lag_max) = (Vec::new(), 0, 0f64);
    for t in threads {
        let (l, b, g) = t.join().unwrap();
        all.extend(l);
        bad += b;
        lag_max = lag_max.max(g);
    }
    if let Some(path) = m.get("log").and_then(|v| v.last()) {
        // pgbench's --log layout (latency in µs in the third column), for latency_pcts.py.
        use std::fmt::Write as _;
        let mut out = String::new();
        for l in &all {
            let _ = writeln!(out, "0 0 {}", (l * 1000.0).round() as u64);
        }
        std::fs::write(path, out).expect("write --log");
    }
    let elapsed = start.elapsed().as_secs_f64();
    json!({
        "rate_asked": rate, "conns": conns, "elapsed_s": elapsed,
        "requests_per_s": all.len() as f64 / elapsed, "non_2xx_or_errors": bad,
        "max_schedule_lag_ms": lag_max, "latency": summary_ms(all),
    })
}

use rand::SeedableRng;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let cmd = std::env::args().nth(1).unwrap_or_default();
    let m = args();
    let v = match cmd.as_str() {
        "assign" => assign(m).await,
        "blocks" => blocks(m).await,
        "routing" => routing(m),
        _ => {
            eprintln!("usage: loadgen assign|blocks|routing (see the header of its source)");
            std::process::exit(2);
        }
    };
    println!("{}", serde_json::to_string_pretty(&v).unwrap());
}
