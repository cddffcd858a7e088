//! Temporary: time faer's thin SVD on the FNC shape.
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(5000);
    let k: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(2377);
    let mut state = 12345u64;
    let a = faer::Mat::<f64>::from_fn(n, k, |_, _| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) % 5) as f64
    });
    let t = std::time::Instant::now();
    let svd = a.thin_svd().unwrap();
    println!(
        "thin svd {n}x{k}: {:?} s0={}",
        t.elapsed(),
        svd.S().column_vector()[0]
    );
    let t = std::time::Instant::now();
    let qr = a.qr();
    println!("qr {n}x{k}: {:?} {}", t.elapsed(), qr.R()[(0, 0)]);
}
