//! `sqlx::migrate!` embeds `migrations/` at compile time; this makes a change
//! there rebuild the crate (the macro cannot tell cargo itself on stable).

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
    println!("cargo:rerun-if-changed=../../migrations/postgres");
    println!("cargo:rerun-if-changed=../../migrations/sqlite");
}
