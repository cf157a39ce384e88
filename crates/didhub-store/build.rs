// `sqlx::migrate!` embeds the migration files at compile time, but on stable Rust cargo does
// not know it read them: without this, a new migration is left out of an incremental build.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
