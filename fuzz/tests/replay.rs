//! Stable replay of every fuzz target's committed seeds and crash reproducers.
//!
//! `corpus/<target>/*` are small seed inputs; `regressions/<target>/*` are inputs that once
//! crashed a target (copied from `artifacts/` after the fix). Each must run without a panic.
//! A target without a single seed is a test failure: every target must stay exercised.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

use std::path::Path;

fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| {
        p.is_file()
            && !p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
    });
    files.sort();
    files
}

#[test]
fn every_target_replays_its_corpus_and_regressions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for target in leanp2p_fuzz::TARGETS {
        let seeds = inputs(&root.join("corpus").join(target.name));
        assert!(
            !seeds.is_empty(),
            "fuzz target {} has no seed corpus",
            target.name
        );
        let regressions = inputs(&root.join("regressions").join(target.name));
        for file in seeds.iter().chain(&regressions) {
            let data = std::fs::read(file).unwrap();
            (target.run)(&data);
        }
        // The empty input and a few degenerate ones are always worth a replay.
        for data in [&[][..], &[0u8; 1][..], &[0xffu8; 64][..]] {
            (target.run)(data);
        }
    }
}

#[test]
fn every_target_has_a_binary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for target in leanp2p_fuzz::TARGETS {
        let bin = root
            .join("fuzz_targets")
            .join(format!("{}.rs", target.name));
        let text = std::fs::read_to_string(&bin).unwrap();
        assert!(
            text.contains(&format!("run(\"{}\"", target.name)),
            "{}",
            bin.display()
        );
    }
}
