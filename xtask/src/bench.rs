//! `cargo xtask bench`: benchmarks, printed as a table and written to `target/bench/`.
//!
//! Boot-to-prompt: wall time from starting QEMU to the first prompt (median of several boots),
//! and the kernel's own share of it (entry to prompt, as the kernel reports it in the banner).

use std::time::Duration;

use crate::artifacts::{self, BuildOpts};
use crate::cli::{Args, Platform};
use crate::harness::Machine;

struct BootFigure {
    platform: Platform,
    wall_ms: Vec<f64>,
    kernel_ms: Vec<f64>,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    if s.is_empty() { 0.0 } else { s[s.len() / 2] }
}

pub fn run(args: &Args) -> Result<(), String> {
    crate::env::check_toolchain()?;
    let targets = artifacts::build_for_qemu(&BuildOpts {
        release: true,
        test_hooks: false,
        qemu: true,
    })?;

    let mut figures = Vec::new();
    for platform in [Platform::X86_64, Platform::Stm32f4] {
        let boot = targets.boot(platform);
        let mut fig = BootFigure {
            platform,
            wall_ms: Vec::new(),
            kernel_ms: Vec::new(),
        };
        for i in 0..args.boots {
            let mut m = Machine::boot(&format!("bench/{}#{i}", platform.name()), &boot)?;
            let banner = m.expect_prompt(Duration::from_secs(90))?;
            fig.wall_ms.push(m.started.elapsed().as_secs_f64() * 1000.0);
            let kernel = banner
                .split("boot: kernel entry to prompt ")
                .nth(1)
                .and_then(|s| s.split(" ms").next())
                .and_then(|s| s.trim().parse::<f64>().ok())
                .ok_or_else(|| format!("no kernel boot time in banner: {banner:?}"))?;
            fig.kernel_ms.push(kernel);
        }
        figures.push(fig);
    }

    println!("\nboot to prompt ({} boots each, median)", args.boots);
    println!(
        "{:<10}{:>14}{:>14}{:>10}",
        "platform", "QEMU→prompt", "kernel", "share"
    );
    let mut json = String::from("{\n  \"boot_to_prompt\": [\n");
    for (i, f) in figures.iter().enumerate() {
        let (wall, kernel) = (median(&f.wall_ms), median(&f.kernel_ms));
        let share = if wall > 0.0 {
            kernel / wall * 100.0
        } else {
            0.0
        };
        println!(
            "{:<10}{:>11.1} ms{:>11.2} ms{:>9.1}%",
            f.platform.name(),
            wall,
            kernel,
            share
        );
        json.push_str(&format!(
            "    {{\"platform\": \"{}\", \"boots\": {}, \"wall_ms_median\": {wall:.3}, \"kernel_ms_median\": {kernel:.3}, \"kernel_share\": {:.4}, \"wall_ms\": {:?}, \"kernel_ms\": {:?}}}{}\n",
            f.platform.name(),
            f.wall_ms.len(),
            share / 100.0,
            f.wall_ms,
            f.kernel_ms,
            if i + 1 < figures.len() { "," } else { "" }
        ));
    }
    json.push_str("  ]\n}\n");
    let dir = artifacts::target_dir().join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("boot.json");
    std::fs::write(&path, json).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("\nwritten to {}", path.display());
    Ok(())
}
